//! How much one token may carry: the bounds on its audiences and scopes,
//! shared by the authority (what Issue may ask for) and the key-set file
//! (what a legacy key's exchanged sessions may carry), so both refuse the
//! same sizes.

/// Most audiences one token may name.
pub const MAX_AUDIENCES: usize = 16;
/// Most scopes one token may carry.
pub const MAX_SCOPES: usize = 64;
