//! Housekeeping: under a steady login/logout load, the rows of ended
//! sessions are purged in the background once their retention has passed,
//! while live sessions stay and keep refreshing, so the ledger's size
//! follows the live sessions.

use crate::common;

use std::time::Duration;

use common::{admin, eventually, issue_request, Backend, Options, TestApp};
use inkan::proto::v1::{revoke_request::Target, RefreshRequest, RevokeRequest};
use sea_orm::{ConnectionTrait, Statement};

async fn rows(app: &TestApp, table: &str) -> i64 {
    let db = app.ledger.connection();
    db.query_one(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

async fn ended_sessions_are_purged_and_live_ones_stay(backend: Backend) {
    if !backend.available() {
        return;
    }
    {
        // A retention shorter than an access token's life is refused, so
        // the tokens here live 1 s with no leeway.
        let app = TestApp::spawn_with(
            backend,
            Options {
                access_token_ttl: Duration::from_secs(1),
                leeway: Some(Duration::ZERO),
                purge_retention: Some(Duration::from_secs(1)),
                ..Options::default()
            },
        )
        .await;
        let mut client = app.client().await;
        let mut live = Vec::new();
        for n in 0..3 {
            live.push(
                client
                    .issue(admin(issue_request(&format!("user-live-{n}"))))
                    .await
                    .unwrap()
                    .into_inner()
                    .refresh_token,
            );
        }
        // Logins and logouts for a while, with the live sessions
        // refreshing between them (the purge must not block rotations).
        let load_ends = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut ended = 0;
        while tokio::time::Instant::now() < load_ends {
            let pair = client
                .issue(admin(issue_request("user-passing")))
                .await
                .unwrap()
                .into_inner();
            let logout = RevokeRequest {
                target: Some(Target::RefreshToken(pair.refresh_token)),
                reason: "logout".into(),
            };
            assert_eq!(
                client
                    .revoke(logout)
                    .await
                    .unwrap()
                    .into_inner()
                    .sessions_revoked,
                1
            );
            ended += 1;
            let token = &mut live[ended % 3];
            *token = client
                .refresh(RefreshRequest {
                    refresh_token: token.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .refresh_token;
        }
        assert!(ended > 10, "too little load to tell: {ended} sessions");

        eventually(
            "ended sessions were purged",
            Duration::from_secs(20),
            || async { rows(&app, "inkan_sessions").await == 3 },
        )
        .await;
        // Their tokens went with them; each live session keeps its chain.
        let tokens = rows(&app, "inkan_refresh_tokens").await;
        assert!(
            tokens >= 3 && tokens <= 3 + ended as i64,
            "{tokens} refresh tokens left"
        );
        for token in live {
            client
                .refresh(RefreshRequest {
                    refresh_token: token,
                })
                .await
                .unwrap();
        }
        app.stop().await;
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ended_sessions_are_purged_and_live_ones_stay() {
        super::ended_sessions_are_purged_and_live_ones_stay(super::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ended_sessions_are_purged_and_live_ones_stay() {
        super::ended_sessions_are_purged_and_live_ones_stay(super::Backend::Postgres).await;
    }
}

mod mysql {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ended_sessions_are_purged_and_live_ones_stay() {
        super::ended_sessions_are_purged_and_live_ones_stay(super::Backend::Mysql).await;
    }
}
