//! inkan-core: the one answer to "is this access token good, and if not,
//! why". The inkan server's Verify RPC and every service that verifies
//! inkan's tokens locally (through `inkan-client`) run this same code.
//!
//! - [`reason`]: the contract's failure reasons and the action each implies.
//! - [`ids`]: newtypes for subjects, sessions, kids, scopes and the like.
//! - [`keys`]: the public keys a verifier accepts, taken from a JWKS (and a
//!   former system's HS256 secrets, for a migration).
//! - [`token`]: the verification itself, [`verify_access_token`], with its
//!   strict parsing and claim checks.
//!
//! Nothing here signs, stores or talks to the network.
//!
//! ```
//! use inkan_core::{keys::VerifyingKeys, token::{verify_access_token, Expectations}};
//!
//! // A consumer builds its keys from inkan's published JWKS.
//! let keys = VerifyingKeys::from_jwks_json(r#"{"keys":[]}"#).unwrap();
//! let expect = Expectations::new("https://auth.example.com", inkan_core::clock::now());
//! let refused = verify_access_token("not-a-token", &keys, &expect).unwrap_err();
//! assert_eq!(refused.reason().as_str(), "TOKEN_MALFORMED");
//! assert_eq!(refused.reason().action().as_str(), "reauthenticate");
//! ```

#![forbid(unsafe_code)]

pub mod clock;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod reason;
pub mod token;

pub use reason::{Action, Reason};
pub use token::{
    verify_access_token, Expectations, RevocationCheck, VerifiedAccessToken, VerifyError,
};
