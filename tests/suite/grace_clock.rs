//! The grace window is measured by the database's clock, and a grace of 0
//! means no retry at all, whatever the clocks of the replicas say. These
//! tests call the ledger directly, as replicas with skewed clocks would:
//! each passes its own `now`.

use crate::common;

use common::{admin, issue_request, TestApp};
use inkan::{
    ledger::{entity::refresh_token, Refusal, RotationPolicy},
    token::RefreshToken,
};
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};

/// How far a skewed replica's clock is off.
const SKEW: i64 = 600;

fn policy(reuse_grace_secs: u64) -> RotationPolicy {
    RotationPolicy {
        idle_ttl: 86_400,
        reuse_grace: std::time::Duration::from_secs(reuse_grace_secs),
    }
}

/// The first refresh token of a fresh session.
async fn login(app: &TestApp) -> RefreshToken {
    let pair = app
        .client()
        .await
        .issue(admin(issue_request("user-clock")))
        .await
        .unwrap()
        .into_inner();
    RefreshToken::parse(&pair.refresh_token).unwrap()
}

backend_tests! {
    async fn without_grace_a_replica_behind_the_spender_sees_reuse(app: TestApp) {
        let first = login(&app).await;
        let now = inkan::clock::now();
        let spent = app.ledger.rotate(&first, &RefreshToken::generate(), now, policy(0)).await.unwrap();
        let successor = spent.expect("the first spend succeeds").refresh_token;
        // A replica whose clock is ten minutes behind the one that spent the
        // token sees the replay: it is reuse, never a retry.
        let replay = app.ledger.rotate(&first, &RefreshToken::generate(), now - SKEW, policy(0)).await.unwrap();
        assert!(matches!(replay, Err(Refusal::Reused { .. })), "{replay:?}");
        let next = app.ledger.rotate(&successor, &RefreshToken::generate(), now, policy(0)).await.unwrap();
        assert_eq!(next.unwrap_err(), Refusal::SessionRevoked, "reuse ended the session");
        app.stop().await;
    }

    async fn a_replica_behind_the_database_does_not_stretch_the_grace_window(app: TestApp) {
        let first = login(&app).await;
        let now = inkan::clock::now();
        app.ledger.rotate(&first, &RefreshToken::generate(), now, policy(5)).await.unwrap().unwrap();
        // The token was spent a minute ago by the database's clock; a replica
        // whose clock is a minute behind would think it was spent just now.
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::col(refresh_token::Column::UsedAt).sub(60))
            .filter(refresh_token::Column::TokenHash.eq(first.hash().as_str()))
            .exec(app.ledger.connection())
            .await
            .unwrap();
        let replay = app.ledger.rotate(&first, &RefreshToken::generate(), now - 60, policy(5)).await.unwrap();
        assert!(matches!(replay, Err(Refusal::Reused { .. })), "{replay:?}");
        app.stop().await;
    }

    async fn a_retry_right_after_a_spend_by_a_replica_behind_is_a_retry(app: TestApp) {
        let first = login(&app).await;
        let now = inkan::clock::now();
        // A replica ten minutes behind spends the token; a moment later the
        // client's retry reaches a replica with the right time.
        let spent = app.ledger.rotate(&first, &RefreshToken::generate(), now - SKEW, policy(60)).await.unwrap().unwrap();
        let retry = app.ledger.rotate(&first, &RefreshToken::generate(), now, policy(60)).await.unwrap();
        let retry = retry.expect("a retry within the grace window by the database's clock");
        assert!(retry.replayed);
        assert_eq!(retry.refresh_token.expose(), spent.refresh_token.expose(), "the same successor");
        app.stop().await;
    }
}
