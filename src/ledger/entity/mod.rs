//! SeaORM entities for the ledger's tables, as the migrations create them.

pub mod legacy_refresh_token;
pub mod refresh_seal;
pub mod refresh_token;
pub mod revocation_event;
pub mod session;
pub mod subject_cut_off;
