//! SeaORM entities for the ledger's tables, as the migrations create them.

pub mod refresh_token;
pub mod session;
