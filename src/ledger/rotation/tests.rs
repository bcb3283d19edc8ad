//! The spend refuses a session its subject's cut-off ended, and leaves the
//! token unspent: a refused refresh consumes nothing. On SQLite always, and
//! on PostgreSQL and MySQL/MariaDB when their test servers are set
//! (`INKAN_TEST_DATABASE_URL`, `INKAN_TEST_MYSQL_URL`), each in a database
//! of its own.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, EntityTrait};

use super::{Refusal, RotationPolicy};
use crate::{
    ids::{ClientId, SessionId, Subject},
    ledger::{entity::refresh_token, Ledger, NewSession},
    token::{Grant, RefreshToken},
};

/// A fresh database on the server `server` names; its URL.
pub(in crate::ledger) async fn fresh_database(server: &str) -> String {
    let name = format!("inkan_u_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server)
        .await
        .expect("test database server");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    let (scheme, rest) = server.split_once("://").expect("a URL");
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{host}/{name}")
}

/// A migrated ledger on every backend this run can reach.
async fn ledgers(dir: &std::path::Path) -> Vec<Ledger> {
    let mut urls = vec![format!(
        "sqlite://{}?mode=rwc",
        dir.join("ledger.db").display()
    )];
    for var in ["INKAN_TEST_DATABASE_URL", "INKAN_TEST_MYSQL_URL"] {
        if let Ok(server) = std::env::var(var) {
            urls.push(fresh_database(&server).await);
        }
    }
    let mut ledgers = Vec::new();
    for url in urls {
        let ledger = Ledger::connect(&url).await.expect("ledger");
        ledger.migrate().await.expect("migrations");
        ledgers.push(ledger);
    }
    ledgers
}

pub(in crate::ledger) async fn open(
    ledger: &Ledger,
    subject: &Subject,
    now: i64,
) -> (SessionId, RefreshToken) {
    let client = ClientId::parse("web").unwrap();
    let grant = Grant {
        audience: vec!["orders".into()],
        scopes: vec!["orders:read".into()],
        claims: Default::default(),
    };
    let id = SessionId::generate();
    let token = RefreshToken::generate();
    let new = NewSession {
        id,
        subject,
        client_id: &client,
        device: "test",
        grant: &grant,
        now,
        expires_at: now + 3600,
        refresh_expires_at: now + 600,
    };
    ledger
        .open_session(new, &token)
        .await
        .expect("session opens");
    (id, token)
}

async fn used_at(ledger: &Ledger, token: &RefreshToken) -> Option<Option<i64>> {
    refresh_token::Entity::find_by_id(token.hash().as_str().to_owned())
        .one(ledger.connection())
        .await
        .unwrap()
        .map(|row| row.used_at)
}

#[tokio::test]
async fn a_cut_off_session_is_refused_with_its_token_left_unspent() {
    let dir = tempfile::tempdir().unwrap();
    let policy = RotationPolicy {
        idle_ttl: 600,
        reuse_grace: Duration::from_secs(10),
    };
    for ledger in ledgers(dir.path()).await {
        let engine = ledger.engine();
        let subject = Subject::parse("user-42").unwrap();
        let now = crate::clock::now();
        let (session, before) = open(&ledger, &subject, now - 100).await;
        ledger.cut_off_subject(&subject, now - 50).await.unwrap();
        let (_, after) = open(&ledger, &subject, now - 10).await;

        let successor = RefreshToken::generate();
        let refused = ledger
            .rotate(&before, &successor, now, policy)
            .await
            .unwrap();
        assert_eq!(
            refused.map(|_| ()),
            Err(Refusal::CutOff { session }),
            "{engine}: a session opened before its subject's cut-off is refused"
        );
        assert_eq!(
            used_at(&ledger, &before).await,
            Some(None),
            "{engine}: the refused token is not spent"
        );
        assert_eq!(
            used_at(&ledger, &successor).await,
            None,
            "{engine}: no successor was stored"
        );
        // A session opened after the cut-off rotates as ever.
        let next = RefreshToken::generate();
        let rotated = ledger.rotate(&after, &next, now, policy).await.unwrap();
        assert!(rotated.is_ok(), "{engine}: {rotated:?}");
        assert!(used_at(&ledger, &after).await.flatten().is_some());
    }
}
