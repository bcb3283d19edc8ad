//! A spent refresh token keeps the key to its successor only while a
//! client's retry may need it. The attack: someone with a copy of the
//! ledger (a backup) and any earlier refresh token of a session opens the
//! sealed successors one after another up to the live token, never
//! presenting a spent token, so reuse detection never trips.

use crate::common;

use std::time::Duration;

use common::{admin, eventually, issue_request, Backend, Options, TestApp};
use inkan::{
    ledger::entity::{refresh_seal, refresh_token},
    proto::v1::RefreshRequest,
    token::{RefreshToken, TokenHash},
};
use sea_orm::EntityTrait;

/// Short, so the window ends within the test; two seconds because the
/// ledger counts whole seconds.
const GRACE: Duration = Duration::from_secs(2);

async fn app(backend: Backend, reuse_grace: Duration) -> Option<TestApp> {
    if !backend.available() {
        return None;
    }
    let options = Options {
        reuse_grace,
        ..Options::default()
    };
    Some(TestApp::spawn_with(backend, options).await)
}

async fn rows(app: &TestApp) -> Vec<refresh_token::Model> {
    refresh_token::Entity::find()
        .all(app.ledger.connection())
        .await
        .unwrap()
}

/// The seals the ledger holds: (spent token's hash, seal).
async fn seals(app: &TestApp) -> Vec<refresh_seal::Model> {
    refresh_seal::Entity::find()
        .all(app.ledger.connection())
        .await
        .unwrap()
}

/// What the thief reaches from `start` with the ledger's rows alone: every
/// successor it can open, one seal after another.
async fn walk(app: &TestApp, start: &str) -> Vec<String> {
    let rows = rows(app).await;
    let seals = seals(app).await;
    let mut token = RefreshToken::parse(start).unwrap();
    let mut reached = Vec::new();
    while let Some(row) = rows.iter().find(|r| r.token_hash == token.hash().as_str()) {
        let seal = seals.iter().find(|s| s.token_hash == row.token_hash);
        let (Some(next_hash), Some(seal)) = (&row.successor_hash, seal.map(|s| &s.seal)) else {
            break;
        };
        let Some(next) = token.open_successor(seal, &TokenHash::from_stored(next_hash.clone()))
        else {
            break;
        };
        reached.push(next.expose().to_owned());
        token = next;
    }
    reached
}

/// Seals still held although their successor is spent.
async fn seals_of_spent_successors(app: &TestApp) -> usize {
    let rows = rows(app).await;
    let seals = seals(app).await;
    rows.iter()
        .filter(|r| seals.iter().any(|s| s.token_hash == r.token_hash))
        .filter(|r| {
            rows.iter()
                .any(|n| Some(&n.token_hash) == r.successor_hash.as_ref() && n.used_at.is_some())
        })
        .count()
}

async fn refresh(app: &TestApp, token: &str) -> String {
    app.client()
        .await
        .refresh(RefreshRequest {
            refresh_token: token.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .refresh_token
}

async fn old_tokens_and_a_backup_never_reach_the_live_token(backend: Backend) {
    let Some(app) = app(backend, GRACE).await else {
        return;
    };
    let pair = app
        .client()
        .await
        .issue(admin(issue_request("user-seal")))
        .await
        .unwrap()
        .into_inner();
    let t0 = pair.refresh_token;
    let t1 = refresh(&app, &t0).await;
    let t2 = refresh(&app, &t1).await;
    let t3 = refresh(&app, &t2).await;
    // Within the window, the client's retry of t2 still gets t3.
    assert_eq!(
        refresh(&app, &t2).await,
        t3,
        "a grace retry gets the same successor"
    );

    // t1 and t2 are spent, so the seals that open them are gone: from the
    // first token the thief reaches nothing.
    let reached = walk(&app, &t0).await;
    assert!(
        reached.is_empty(),
        "from the first token and the ledger's rows, {} seals opened{}",
        reached.len(),
        if reached.contains(&t3) {
            ", up to the live token"
        } else {
            ""
        }
    );
    assert!(walk(&app, &t1).await.is_empty());
    assert_eq!(seals_of_spent_successors(&app).await, 0);

    // t2's seal opens the live t3 only until its window ends, when the sweep
    // clears it.
    // The window is measured by the database's clock, which only real time
    // moves: the seal goes within a second or so of it ending.
    eventually(
        "the seal of the live token goes once its grace window ends",
        Duration::from_secs(30),
        || async { walk(&app, &t2).await.is_empty() },
    )
    .await;
    for earlier in [&t0, &t1, &t2] {
        assert!(walk(&app, earlier).await.is_empty());
    }
    assert!(seals(&app).await.is_empty());
    // And the live token is untouched.
    refresh(&app, &t3).await;
    app.stop().await;
}

async fn without_grace_no_seal_is_written(backend: Backend) {
    let Some(app) = app(backend, Duration::ZERO).await else {
        return;
    };
    let pair = app
        .client()
        .await
        .issue(admin(issue_request("user-noseal")))
        .await
        .unwrap()
        .into_inner();
    let next = refresh(&app, &pair.refresh_token).await;
    refresh(&app, &next).await;
    assert!(seals(&app).await.is_empty());
    app.stop().await;
}

backend_fns!(
    old_tokens_and_a_backup_never_reach_the_live_token,
    without_grace_no_seal_is_written
);
