//! Concurrent writes share a commit on SQLite (and each have their own on
//! PostgreSQL and MariaDB); either way every call gets its own outcome, an
//! answered call's rows are in the ledger for any other connection to see,
//! and one call's bad write never fails or undoes another's.

use crate::common;

use std::collections::HashSet;

use common::{admin, issue_request, TestApp};
use futures::future::join_all;
use inkan::{
    ids::{ClientId, SessionId, Subject},
    ledger::{Ledger, NewSession},
    proto::v1::RefreshRequest,
    token::{Grant, RefreshToken},
};

fn new_session<'a>(
    id: SessionId,
    subject: &'a Subject,
    client: &'a ClientId,
    grant: &'a Grant,
) -> NewSession<'a> {
    NewSession {
        id,
        subject,
        client_id: client,
        device: "",
        grant,
        now: 1_000,
        expires_at: i64::MAX / 2,
        refresh_expires_at: i64::MAX / 2,
    }
}

backend_tests! {
    async fn concurrent_issues_and_refreshes_each_get_their_own_committed_answer(app: TestApp) {
        let client = app.client().await;
        let issued = join_all((0..40).map(|i| {
            let mut client = client.clone();
            async move {
                client
                    .issue(admin(issue_request(&format!("user-{i}"))))
                    .await
                    .unwrap()
                    .into_inner()
            }
        }))
        .await;
        let sessions: HashSet<_> = issued.iter().map(|p| p.session_id.clone()).collect();
        assert_eq!(sessions.len(), 40, "every Issue opened a session of its own");

        // Every chain rotated at once, three times over: each refresh gets
        // a new token of its own session.
        let mut tokens: Vec<(String, String)> = issued
            .iter()
            .map(|p| (p.session_id.clone(), p.refresh_token.clone()))
            .collect();
        for _ in 0..3 {
            tokens = join_all(tokens.into_iter().map(|(session, token)| {
                let mut client = client.clone();
                async move {
                    let pair = client
                        .refresh(RefreshRequest { refresh_token: token.clone() })
                        .await
                        .unwrap()
                        .into_inner();
                    assert_eq!(pair.session_id, session, "a refresh stays in its session");
                    assert_ne!(pair.refresh_token, token);
                    (session, pair.refresh_token)
                }
            }))
            .await;
        }

        // Another connection to the same database sees every answered
        // write: the live token of each session is the one last handed out.
        let other = Ledger::connect(&app.database_url).await.unwrap();
        for (session, token) in &tokens {
            let token = RefreshToken::parse(token).unwrap();
            let found = other.session_of_token(&token.hash()).await.unwrap();
            assert_eq!(found.map(|s| s.to_string()).as_deref(), Some(session.as_str()));
        }
        app.stop().await;
    }

    async fn one_calls_bad_write_fails_alone(app: TestApp) {
        let subject = Subject::parse("user-1").unwrap();
        let client = ClientId::parse("web").unwrap();
        let grant = Grant { audience: vec![], scopes: vec![], claims: Default::default() };
        let taken = SessionId::generate();
        app.ledger
            .open_session(new_session(taken, &subject, &client, &grant), &RefreshToken::generate())
            .await
            .unwrap();

        // Twenty good sessions and one reusing a taken id, all at once, so
        // that on SQLite they share transactions.
        let good: Vec<_> = (0..20).map(|_| (SessionId::generate(), RefreshToken::generate())).collect();
        let duplicate_token = RefreshToken::generate();
        let (duplicate, opened) = tokio::join!(
            app.ledger.open_session(new_session(taken, &subject, &client, &grant), &duplicate_token),
            join_all(good.iter().map(|(id, token)| {
                app.ledger.open_session(new_session(*id, &subject, &client, &grant), token)
            })),
        );
        assert!(duplicate.is_err(), "a taken session id is refused");
        for outcome in opened {
            outcome.expect("the other sessions are opened");
        }
        for (id, token) in &good {
            assert_eq!(app.ledger.session_of_token(&token.hash()).await.unwrap(), Some(*id));
        }
        // Nothing of the refused write was kept.
        assert_eq!(app.ledger.session_of_token(&duplicate_token.hash()).await.unwrap(), None);
        app.stop().await;
    }
}
