//! WatchRevocations: the snapshot and its catching up, revocations from
//! another process, resuming from a cursor (across a restart too) with
//! nothing missed and nothing twice, and the refusals.

use crate::common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use common::{admin, assert_refused, issue_request, with_key, TestApp, VERIFIER_KEY, WATCHER_KEY};
use inkan::proto::v1::{
    revoke_request::Target, RevocationBatch, RevokeRequest, WatchRevocationsRequest,
};
use tonic::{Code, Streaming};

/// What a stream delivered: session ids and subjects, in order.
#[derive(Debug, Default)]
struct Seen {
    sessions: Vec<String>,
    subjects: Vec<String>,
    cursor: String,
}

impl Seen {
    fn add(&mut self, batch: RevocationBatch) {
        self.sessions
            .extend(batch.sessions.into_iter().map(|s| s.session_id));
        self.subjects
            .extend(batch.subjects.into_iter().map(|s| s.subject));
        if !batch.cursor.is_empty() {
            self.cursor = batch.cursor;
        }
    }
}

async fn watch(app: &TestApp, since: &str) -> Streaming<RevocationBatch> {
    app.client()
        .await
        .watch_revocations(with_key(
            WatchRevocationsRequest {
                since: since.into(),
            },
            WATCHER_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn next(stream: &mut Streaming<RevocationBatch>, deadline: Instant) -> RevocationBatch {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, stream.message())
        .await
        .expect("a batch before the deadline")
        .expect("the stream stays healthy")
        .expect("the stream stays open")
}

/// Every batch up to and including the one marked caught up.
async fn until_caught_up(stream: &mut Streaming<RevocationBatch>) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Seen::default();
    loop {
        let batch = next(stream, deadline).await;
        let done = batch.caught_up;
        seen.add(batch);
        if done {
            assert!(!seen.cursor.is_empty(), "the caught-up batch has a cursor");
            return seen;
        }
    }
}

/// Batches until `count` sessions have arrived, within 2 s.
async fn sessions(stream: &mut Streaming<RevocationBatch>, count: usize) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = Seen::default();
    while seen.sessions.len() < count {
        let batch = next(stream, deadline).await;
        assert!(!batch.caught_up, "caught_up is set once");
        seen.add(batch);
    }
    seen
}

/// Opens a session and returns its id.
async fn session(app: &TestApp, subject: &str) -> String {
    let mut client = app.client().await;
    let pair = client.issue(admin(issue_request(subject))).await.unwrap();
    pair.into_inner().session_id
}

async fn revoke(app: &TestApp, target: Target) -> u32 {
    let mut client = app.client().await;
    client
        .revoke(admin(RevokeRequest {
            target: Some(target),
            reason: "test".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions_revoked
}

fn set(ids: &[String]) -> HashSet<String> {
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "nothing twice: {ids:?}");
    unique
}

backend_tests! {
    async fn the_snapshot_holds_what_is_revoked_then_catches_up(app: TestApp) {
        let (one, two) = (session(&app, "user-1").await, session(&app, "user-2").await);
        let alive = session(&app, "user-3").await;
        assert_eq!(revoke(&app, Target::SessionId(one.clone())).await, 1);
        assert_eq!(revoke(&app, Target::Subject("user-2".into())).await, 1);

        let mut stream = watch(&app, "").await;
        let seen = until_caught_up(&mut stream).await;
        assert_eq!(set(&seen.sessions), set(&[one, two]));
        assert!(!seen.sessions.contains(&alive));
        assert_eq!(seen.subjects, ["user-2"]);
        app.stop().await;
    }

    async fn only_a_caller_allowed_to_sees_which_subjects_were_revoked(app: TestApp) {
        let (one, two) = (session(&app, "user-1").await, session(&app, "user-2").await);
        assert_eq!(revoke(&app, Target::SessionId(one.clone())).await, 1);
        assert_eq!(revoke(&app, Target::Subject("user-2".into())).await, 1);
        let mut plain = app
            .client()
            .await
            .watch_revocations(with_key(WatchRevocationsRequest::default(), VERIFIER_KEY))
            .await
            .unwrap()
            .into_inner();
        let seen = until_caught_up(&mut plain).await;
        // Session ids name nobody; the subject is personal data.
        assert_eq!(set(&seen.sessions), set(&[one.clone(), two.clone()]));
        assert!(seen.subjects.is_empty(), "{:?}", seen.subjects);
        for key in [WATCHER_KEY, common::ADMIN_KEY] {
            let mut allowed = app
                .client()
                .await
                .watch_revocations(with_key(WatchRevocationsRequest::default(), key))
                .await
                .unwrap()
                .into_inner();
            let seen = until_caught_up(&mut allowed).await;
            assert_eq!(seen.subjects, ["user-2"]);
        }
        app.stop().await;
    }

    async fn streams_open_from_memory_without_reading_the_log(app: TestApp) {
        let mut ids = Vec::new();
        for n in 0..40 {
            let id = session(&app, &format!("user-{n}")).await;
            revoke(&app, Target::SessionId(id.clone())).await;
            ids.push(id);
        }
        // Let the feed read them, then take the log away: a stream that
        // opened by reading the ledger would fail now.
        common::feed_polls().await;
        let db = sea_orm::Database::connect(app.database_url.as_str()).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(&db, "DROP TABLE inkan_revocation_events")
            .await
            .unwrap();
        db.close().await.unwrap();
        // Caught up needs the ledger (which is broken now); every revocation
        // it held comes from memory all the same.
        let opens = (0..16).map(|_| async {
            let mut stream = watch(&app, "").await;
            sessions(&mut stream, ids.len()).await
        });
        for seen in futures::future::join_all(opens).await {
            assert_eq!(set(&seen.sessions), set(&ids));
        }
        app.stop().await;
    }

    async fn a_callers_watch_streams_are_capped(app: TestApp) {
        let mut client = app.client().await;
        let mut open = Vec::new();
        for _ in 0..16 {
            let request = with_key(WatchRevocationsRequest::default(), VERIFIER_KEY);
            open.push(client.watch_revocations(request).await.unwrap().into_inner());
        }
        let over = client
            .watch_revocations(with_key(WatchRevocationsRequest::default(), VERIFIER_KEY))
            .await;
        assert_refused(over, "TOO_MANY_STREAMS");
        // Another caller has slots of its own.
        watch(&app, "").await;
        // A closed stream gives its slot back.
        drop(open.pop());
        common::eventually("a slot comes back", Duration::from_secs(5), || {
            let mut client = client.clone();
            async move {
                client
                    .watch_revocations(with_key(WatchRevocationsRequest::default(), VERIFIER_KEY))
                    .await
                    .is_ok()
            }
        })
        .await;
        app.stop().await;
    }

    async fn a_revocation_on_one_process_reaches_anothers_stream(app: TestApp) {
        let replica = app.replica().await;
        let mut stream = watch(&replica, "").await;
        let snapshot = until_caught_up(&mut stream).await;
        assert!(snapshot.sessions.is_empty() && snapshot.subjects.is_empty());

        let id = session(&app, "user-1").await;
        assert_eq!(revoke(&app, Target::SessionId(id.clone())).await, 1);
        let seen = sessions(&mut stream, 1).await;
        assert_eq!(seen.sessions, [id]);
        drop(stream);
        replica.stop().await;
        app.stop().await;
    }

    async fn a_resumed_stream_gets_exactly_what_it_missed(app: TestApp) {
        let ids = [
            session(&app, "user-a").await,
            session(&app, "user-b").await,
            session(&app, "user-c").await,
            session(&app, "user-d").await,
        ];
        let mut stream = watch(&app, "").await;
        let start = until_caught_up(&mut stream).await.cursor;
        revoke(&app, Target::SessionId(ids[0].clone())).await;
        let first = sessions(&mut stream, 1).await;
        assert_eq!(first.sessions, [ids[0].clone()]);
        drop(stream);

        // Missed while away, and within the cursor's overlap.
        revoke(&app, Target::SessionId(ids[1].clone())).await;
        revoke(&app, Target::Subject("user-c".into())).await;
        let mut resumed = watch(&app, &first.cursor).await;
        let missed = until_caught_up(&mut resumed).await;
        assert_eq!(set(&missed.sessions), set(&ids[1..3]));
        assert_eq!(missed.subjects, ["user-c"]);
        // Live from here: only what is new, none of the above again.
        revoke(&app, Target::SessionId(ids[3].clone())).await;
        let live = sessions(&mut resumed, 1).await;
        assert_eq!(live.sessions, [ids[3].clone()]);
        assert!(live.subjects.is_empty());

        // From the first cursor: everything since, once.
        let mut again = watch(&app, &start).await;
        let all = until_caught_up(&mut again).await;
        assert_eq!(set(&all.sessions), set(&ids));
        assert_eq!(all.subjects, ["user-c"]);
        app.stop().await;
    }

    async fn a_stream_resumed_after_a_restart_misses_nothing(app: TestApp) {
        let ids = [
            session(&app, "user-a").await,
            session(&app, "user-b").await,
            session(&app, "user-c").await,
        ];
        let mut stream = watch(&app, "").await;
        let cursor = until_caught_up(&mut stream).await.cursor;
        revoke(&app, Target::SessionId(ids[0].clone())).await;
        // The server goes down under the stream: it says to reconnect.
        let app = {
            let stopping = tokio::spawn(app.restart());
            let ended = loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("the stream ended without a status"),
                    Err(status) => break status,
                }
            };
            assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
            stopping.await.unwrap()
        };
        revoke(&app, Target::SessionId(ids[1].clone())).await;
        revoke(&app, Target::SessionId(ids[2].clone())).await;
        let mut resumed = watch(&app, &cursor).await;
        let missed = until_caught_up(&mut resumed).await;
        assert_eq!(set(&missed.sessions), set(&ids));
        app.stop().await;
    }

    async fn a_malformed_cursor_or_no_caller_is_refused(app: TestApp) {
        let mut client = app.client().await;
        for since in ["not-a-cursor!", "AAAA", "AQAAAAAAAAAAAQ"] {
            let request = with_key(WatchRevocationsRequest { since: since.into() }, VERIFIER_KEY);
            assert_refused(client.watch_revocations(request).await, "INVALID_REQUEST");
        }
        assert_refused(
            client.watch_revocations(WatchRevocationsRequest::default()).await,
            "CALLER_UNAUTHENTICATED",
        );
        assert_refused(
            client
                .watch_revocations(with_key(WatchRevocationsRequest::default(), "no-such-key"))
                .await,
            "CALLER_UNAUTHENTICATED",
        );
        app.stop().await;
    }
}
