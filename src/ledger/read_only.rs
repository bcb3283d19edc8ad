//! Connections that met a read-only database are dropped, not kept.
//!
//! After a failover the old leader comes back as a standby, and a proxy
//! that routes wrong, or a node switched to `default_transaction_read_only`,
//! leaves the pool holding connections on which every write fails
//! (PostgreSQL SQLSTATE 25006; MySQL/MariaDB 1290, 1792, 1836). Such a
//! connection still answers pings, so the pool would keep it for as long
//! as it is used, and the replica would never write again until restarted.
//!
//! So the first error that says "read-only" marks the moment, and the
//! pool's hooks close every connection opened before the mark as it is
//! released or next acquired. New connections go wherever the database's
//! address leads now: writes resume as soon as they are possible there.
//!
//! The mark is one for the whole process: a hook cannot tell which
//! connection failed (sqlx passes it the connection, not its history), and
//! a mark that reaches another pool (another ledger in the same process)
//! costs that pool only a reconnection.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

use sea_orm::{
    sqlx::{self, mysql::MySqlDatabaseError, pool::PoolConnectionMetadata},
    DbErr, RuntimeErr,
};
use tracing::warn;

/// When a read-only error was last seen, in nanoseconds after [`base`];
/// 0 for never.
static MARK: AtomicU64 = AtomicU64::new(0);

/// How often, at most, a read-only database is logged: every write on
/// every old connection meets it.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The process's reference instant for [`MARK`].
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds from [`base`] to `at`, at least 1 (0 means "never").
fn nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(base()).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Whether `err` says the database refused a write because it is
/// read-only: a standby, a demoted leader, or a read-only default.
pub(super) fn is_read_only(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db)))) = err
    else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<MySqlDatabaseError>() {
        // --read-only / super_read_only, a read-only transaction, and
        // InnoDB's read-only mode.
        return matches!(mysql.number(), 1290 | 1792 | 1836);
    }
    db.code().as_deref() == Some("25006")
}

/// Records that a read-only error was just met: every connection opened
/// until now is closed the next time the pool handles it.
pub(super) fn seen() {
    let now = nanos(Instant::now());
    let before = MARK.fetch_max(now, Ordering::Relaxed);
    if before == 0 || now.saturating_sub(before) >= LOG_EVERY.as_nanos() as u64 {
        warn!("the database refused a write as read-only (a standby or a demoted leader); dropping the connections opened before, new ones go to wherever the database address leads now");
    }
}

/// Whether the pool may keep (or hand out) a connection: not if it was
/// opened before the last read-only error. Cheap (two atomics, no I/O), so
/// it runs on every acquire and release.
pub(super) fn keep(meta: &PoolConnectionMetadata) -> bool {
    opened_after_mark(meta.age)
}

/// Whether a connection opened `age` ago was opened after the mark.
fn opened_after_mark(age: Duration) -> bool {
    let mark = MARK.load(Ordering::Relaxed);
    if mark == 0 {
        return true;
    }
    let opened = Instant::now().checked_sub(age).map_or(0, nanos);
    opened > mark
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_read_only_error_are_dropped_and_later_ones_kept() {
        let _ = base();
        std::thread::sleep(Duration::from_millis(5));
        seen();
        assert!(
            !opened_after_mark(Duration::from_millis(2)),
            "a connection older than the mark is kept"
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            opened_after_mark(Duration::from_millis(1)),
            "a new connection is dropped"
        );
    }

    #[test]
    fn only_read_only_refusals_count() {
        assert!(!is_read_only(&DbErr::Custom("read-only".into())));
        assert!(!is_read_only(&DbErr::RecordNotFound("x".into())));
    }
}
