//! The database's clock, as an SQL expression: the one clock every replica
//! shares. Times that replicas compare with each other at the scale of
//! seconds (when a refresh token was spent, and how long ago that was) are
//! taken from it, so a replica whose clock is behind or ahead cannot stretch
//! or shrink the grace window.

use sea_orm::{
    sea_query::{Expr, SimpleExpr},
    DbBackend,
};

/// The database's current time in whole Unix seconds (rounded down on every
/// backend), as a signed 64-bit integer.
pub(super) fn db_now(backend: DbBackend) -> SimpleExpr {
    Expr::cust(db_now_sql(backend))
}

/// [`db_now`] as SQL text, for statements written as text.
pub(super) fn db_now_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "CAST(strftime('%s','now') AS INTEGER)",
        // clock_timestamp(), not now(): now() is frozen at the start of the
        // transaction.
        DbBackend::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)",
        // UNIX_TIMESTAMP() is unsigned; the ledger's times are signed.
        DbBackend::MySql => "CAST(UNIX_TIMESTAMP() AS SIGNED)",
    }
}
