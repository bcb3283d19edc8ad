//! A batch on PostgreSQL: one statement, so one round trip and one commit.
//!
//! The batch's writes travel as arrays (`unnest`). New sessions and their
//! first tokens are one statement of two inserts ([`open`]); it scans
//! nothing, so it is prepared once per connection and its plan kept.
//! Rotations are one statement of data-modifying CTEs ([`rotate`]):
//!
//! 1. `found`: the presented tokens, unspent and unexpired; `live`: their
//!    sessions that may still rotate (neither revoked, nor ended, nor
//!    opened before their subject's cut-off), each touched (its last
//!    use), which also locks it: a revocation that commits meanwhile is
//!    seen, as it is by `spend_in`'s session update;
//! 2. `spent`: the compare-and-set, `used_at IS NULL`, on the token row
//!    itself (re-checked on the newest row version when another statement
//!    spent it first), recording the successor's hash: no indexed column
//!    changes, so the update is HOT when the page has room;
//! 3. `successors`: the new tokens; `sealed`: their seals, for a retry;
//!    `unsealed`: the spent tokens' parents' seals deleted (no retry of
//!    the parent can succeed any more).
//!
//! Every row is reached by its primary key (`= ANY(...)`, and no other
//! indexed column compared): joined freely, on a young table the planner
//! was seen to scan the sessions by their `revoked_at` index (all the live
//! ones) and the tokens by their `session_id` (the whole chain). The
//! `revoked_at` index now holds only revoked sessions (migration
//! `m20261203_000003`), so it cannot serve `revoked_at IS NULL` at all.
//!
//! Being one statement, each commits on its own: no `BEGIN` and `COMMIT`
//! round trips. A token the rotation did not spend is answered "not spent
//! here", and its call reads the token to learn why.
//!
//! Both run on the writer's own connection ([`Writer`]), held from batch
//! to batch, where they are prepared once and planned once
//! (`bounds::WRITER_SETTINGS`): a batch is one round trip.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use sea_orm::{
    sqlx::{
        self,
        pool::PoolConnection,
        postgres::{PgPool, PgRow},
        Connection as _, Postgres, Row,
    },
    DbBackend, DbErr, EntityName, RuntimeErr,
};
use tokio::sync::Mutex;

use super::{Rotate, Rotated, Write};
use crate::ledger::{
    db_clock::db_now_sql,
    entity::{refresh_seal, refresh_token, session, subject_cut_off},
    LedgerError,
};

/// The statement that opens sessions, with the tables' names as their
/// entities give them.
fn open_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let sessions = session::Entity.table_name();
        let tokens = refresh_token::Entity.table_name();
        format!(
            "WITH opened AS (
  INSERT INTO {sessions} (id, subject, client_id, device, audience, scope, claims,
                          created_at, last_used_at, expires_at)
  SELECT o.id, o.subject, o.client_id, o.device, o.audience, o.scope, o.claims,
         o.created_at, o.created_at, o.expires_at
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
              $7::text[], $8::bigint[], $9::bigint[])
    AS o(id, subject, client_id, device, audience, scope, claims, created_at, expires_at)
), first_tokens AS (
  INSERT INTO {tokens} (token_hash, session_id, generation, created_at, expires_at)
  SELECT f.token_hash, f.session_id, 0, f.created_at, f.expires_at
  FROM unnest($10::text[], $1::text[], $8::bigint[], $11::bigint[])
    AS f(token_hash, session_id, created_at, expires_at)
)
SELECT 1"
        )
    })
}

/// The statement that rotates refresh tokens.
fn rotate_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let sessions = session::Entity.table_name();
        let tokens = refresh_token::Entity.table_name();
        let cut_offs = subject_cut_off::Entity.table_name();
        let seals = refresh_seal::Entity.table_name();
        let now = db_now_sql(DbBackend::Postgres);
        format!(
            "WITH asked AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
    WITH ORDINALITY AS a(token_hash, successor_hash, seal, now, cap, n)
), found AS (
  SELECT a.n, a.successor_hash, a.seal, a.now, a.cap, t.token_hash, t.session_id
  FROM {tokens} t JOIN asked a ON a.token_hash = t.token_hash
  WHERE t.token_hash = ANY($1::text[]) AND t.used_at IS NULL AND t.expires_at > a.now
), live AS (
  UPDATE {sessions} s SET last_used_at = f.now
  FROM found f
  WHERE s.id = ANY(ARRAY(SELECT session_id FROM found)) AND s.id = f.session_id
    AND s.revoked_at IS NULL AND s.expires_at > f.now
    AND NOT EXISTS (SELECT 1 FROM {cut_offs} c
                    WHERE c.subject = s.subject AND c.not_before > s.created_at)
  RETURNING s.*
), spent AS (
  UPDATE {tokens} t
  SET used_at = {now}, successor_hash = f.successor_hash
  FROM found f JOIN live s ON s.id = f.session_id
  WHERE t.token_hash = ANY(ARRAY(SELECT token_hash FROM found)) AND t.token_hash = f.token_hash
    AND t.used_at IS NULL AND s.expires_at > f.now
  RETURNING f.n, t.token_hash, t.session_id, t.parent_hash, t.generation, t.used_at, f.seal,
            f.successor_hash AS successor, f.now, LEAST(f.cap, s.expires_at) AS refresh_expires_at
), successors AS (
  INSERT INTO {tokens} (token_hash, session_id, parent_hash, generation, created_at, expires_at)
  SELECT successor, session_id, token_hash, LEAST(generation::bigint + 1, 2147483647)::integer,
         now, refresh_expires_at
  FROM spent
), sealed AS (
  INSERT INTO {seals} (token_hash, sealed_at, seal)
  SELECT token_hash, used_at, seal FROM spent WHERE seal IS NOT NULL
), unsealed AS (
  DELETE FROM {seals} p
  WHERE p.token_hash = ANY(ARRAY(SELECT parent_hash FROM spent))
)
SELECT spent.n AS inkan_n, spent.refresh_expires_at AS inkan_refresh_expires_at, live.*
FROM spent JOIN live ON live.id = spent.session_id"
        )
    })
}

/// How long the writer's connection may sit unused before it is checked
/// with a round trip before the next batch: a database or a proxy may
/// have closed it meanwhile. Under load it is never checked.
const RECHECK_AFTER: Duration = Duration::from_secs(1);
/// How long the writer keeps a connection before giving it back to the
/// pool and taking one again: the pool then closes it once it is past its
/// lifetime (sqlx's `max_lifetime`, 30 minutes), as it does every other
/// connection, so a busy writer does not hold one backend forever.
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// The writer's connection to PostgreSQL. Taken from a pool of one, the
/// writer's own, and held while it works: a pool checks a connection
/// with a round trip when it is taken and again when it is given back,
/// two of the three round trips a batch would otherwise cost. A batch
/// that fails gives its connection back, and the pool tests it (a broken
/// one, or one that met a read-only node, is closed: see `read_only.rs`).
pub(super) struct Writer {
    pool: PgPool,
    held: Mutex<Option<Held>>,
}

struct Held {
    conn: PoolConnection<Postgres>,
    /// When the writer took it from the pool.
    taken: Instant,
    /// When a batch last worked on it.
    used: Instant,
}

impl Writer {
    /// A writer on `pool`, which should hold one connection with the
    /// writer's settings (`bounds::Purpose::Writing`).
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            held: Mutex::new(None),
        }
    }

    /// The connection to write on: the one held, if it was used recently
    /// or still answers, and has not been held for long; or else one from
    /// the pool.
    async fn take(&self, held: &mut Option<Held>) -> Result<Held, LedgerError> {
        if let Some(mut kept) = held.take() {
            if kept.taken.elapsed() < HOLD_AT_MOST
                && (kept.used.elapsed() < RECHECK_AFTER || kept.conn.ping().await.is_ok())
            {
                return Ok(kept);
            }
        }
        let conn = self.pool.acquire().await.map_err(database)?;
        let now = Instant::now();
        Ok(Held {
            conn,
            taken: now,
            used: now,
        })
    }

    /// Keeps `kept` for the next batch if `worked`; otherwise gives its
    /// connection back to the pool, which tests it.
    fn keep(held: &mut Option<Held>, mut kept: Held, worked: bool) {
        if worked {
            kept.used = Instant::now();
            *held = Some(kept);
        }
    }
}

/// The arrays of the new sessions (`$1`-`$11` of [`open_text`]).
#[derive(Default)]
struct Opens {
    id: Vec<String>,
    subject: Vec<String>,
    client_id: Vec<String>,
    device: Vec<String>,
    audience: Vec<String>,
    scope: Vec<String>,
    claims: Vec<String>,
    created_at: Vec<i64>,
    expires_at: Vec<i64>,
    token_hash: Vec<String>,
    token_expires_at: Vec<i64>,
}

/// The arrays of the rotations (`$1`-`$5` of [`rotate_text`]).
#[derive(Default)]
struct Rotations {
    hash: Vec<String>,
    successor: Vec<String>,
    seal: Vec<Option<String>>,
    now: Vec<i64>,
    /// `now + idle_ttl`, saturated; the statement caps it by the session.
    cap: Vec<i64>,
}

/// Opens the sessions of the [`Write::Open`]s of `writes`, in one
/// statement that commits by itself.
pub(super) async fn open(writer: &Writer, writes: &[&Write]) -> Result<(), LedgerError> {
    let mut opens = Opens::default();
    for write in writes {
        if let Write::Open { session, token } = write {
            opens.id.push(session.id.clone());
            opens.subject.push(session.subject.clone());
            opens.client_id.push(session.client_id.clone());
            opens.device.push(session.device.clone());
            opens.audience.push(session.audience.clone());
            opens.scope.push(session.scope.clone());
            opens.claims.push(session.claims.clone());
            opens.created_at.push(session.created_at);
            opens.expires_at.push(session.expires_at);
            opens.token_hash.push(token.token_hash.clone());
            opens.token_expires_at.push(token.expires_at);
        }
    }
    let mut held = writer.held.lock().await;
    let mut kept = writer.take(&mut held).await?;
    let done = sqlx::query(open_text())
        .bind(opens.id)
        .bind(opens.subject)
        .bind(opens.client_id)
        .bind(opens.device)
        .bind(opens.audience)
        .bind(opens.scope)
        .bind(opens.claims)
        .bind(opens.created_at)
        .bind(opens.expires_at)
        .bind(opens.token_hash)
        .bind(opens.token_expires_at)
        .execute(&mut *kept.conn)
        .await;
    Writer::keep(&mut held, kept, done.is_ok());
    done.map_err(database)?;
    Ok(())
}

/// Rotates the refresh tokens of the [`Write::Rotate`]s of `writes`, in one
/// statement that commits by itself. For each, in order, what it spent.
pub(super) async fn rotate(
    writer: &Writer,
    writes: &[&Write],
) -> Result<Vec<Option<Box<Rotated>>>, LedgerError> {
    let mut asked = Rotations::default();
    for write in writes {
        if let Write::Rotate(Rotate {
            hash,
            successor_hash,
            seal,
            now,
            idle_ttl,
        }) = write
        {
            asked.hash.push(hash.clone());
            asked.successor.push(successor_hash.clone());
            asked.seal.push(seal.clone());
            asked.now.push(*now);
            asked.cap.push(now.saturating_add(*idle_ttl));
        }
    }
    let mut outcome: Vec<Option<Box<Rotated>>> = asked.hash.iter().map(|_| None).collect();
    let mut held = writer.held.lock().await;
    let mut kept = writer.take(&mut held).await?;
    let rows = sqlx::query(rotate_text())
        .bind(asked.hash)
        .bind(asked.successor)
        .bind(asked.seal)
        .bind(asked.now)
        .bind(asked.cap)
        .fetch_all(&mut *kept.conn)
        .await;
    Writer::keep(&mut held, kept, rows.is_ok());
    drop(held);
    let rows = rows.map_err(database)?;
    let corrupt = |_| LedgerError::Corrupt("group commit answer");
    for row in rows {
        let n: i64 = row.try_get("inkan_n").map_err(corrupt)?;
        let slot = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| outcome.get_mut(i))
            .ok_or(LedgerError::Corrupt("group commit answer"))?;
        *slot = Some(Box::new(Rotated {
            session: session_of(&row).map_err(corrupt)?,
            refresh_expires_at: row.try_get("inkan_refresh_expires_at").map_err(corrupt)?,
        }));
    }
    Ok(outcome)
}

/// A driver error, as the ledger reports (and retries) database errors.
fn database(err: sqlx::Error) -> LedgerError {
    LedgerError::Database(DbErr::Query(RuntimeErr::SqlxError(err)))
}

/// The session columns of an answer's row.
fn session_of(row: &PgRow) -> Result<session::Model, sqlx::Error> {
    Ok(session::Model {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        client_id: row.try_get("client_id")?,
        device: row.try_get("device")?,
        audience: row.try_get("audience")?,
        scope: row.try_get("scope")?,
        claims: row.try_get("claims")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revoke_reason: row.try_get("revoke_reason")?,
    })
}

#[cfg(test)]
mod tests;
