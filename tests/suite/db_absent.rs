//! A replica whose database is absent at start stays up, alive but not
//! ready, answers every token call `STORAGE_UNAVAILABLE` (action `retry`),
//! retries with back-off, and serves once the database answers, without a
//! restart. Exiting instead would hand the wait to Kubernetes' restart
//! back-off, which grows to minutes.

use std::time::Duration;

use inkan::proto::v1::{IssueRequest, VerifyRequest};
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::Channel;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

use crate::common::{
    assert_refused, eventually, fresh_database, http_get, server_config, Backend, Served,
};

/// The health status (1 SERVING, 2 NOT_SERVING) `served` reports for
/// `service`.
async fn health(served: &Served, service: &str) -> i32 {
    let channel = Channel::from_shared(format!("http://{}", served.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = HealthCheckRequest {
        service: service.into(),
    };
    HealthClient::new(channel)
        .check(request)
        .await
        .unwrap()
        .into_inner()
        .status
}

fn issue() -> IssueRequest {
    IssueRequest {
        subject: "user-1".into(),
        audience: vec!["app".into()],
        client_id: "web".into(),
        ..IssueRequest::default()
    }
}

/// How many times the server has said it is trying the ledger again.
fn attempts(served: &Served) -> usize {
    served.count(|e| e["message"] == "the ledger is not ready; not serving yet, trying again")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_database_is_absent_stays_up_alive_but_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1. The password must never reach the log.
    let config = server_config(
        dir.path(),
        "postgres://inkan:pw-never-logged@127.0.0.1:1/inkan",
        "log_format = \"json\"\nmigrate_on_start = true",
    );
    let mut served = tokio::task::spawn_blocking(move || Served::start_waiting(&config))
        .await
        .unwrap();

    assert_eq!(health(&served, "liveness").await, 1, "liveness");
    for service in ["", "inkan.v1.TokenService", "inkan.v1.TokenService/Verify"] {
        assert_eq!(
            health(&served, service).await,
            2,
            "{service:?} while waiting"
        );
    }
    let mut client = served.client().await;
    assert_refused(client.issue(issue()).await, "STORAGE_UNAVAILABLE");
    // Verify too: without the revocations it cannot know a token is not
    // revoked, so it accepts none.
    let verify = VerifyRequest {
        access_token: "a.b.c".into(),
        ..VerifyRequest::default()
    };
    assert_refused(client.verify(verify).await, "STORAGE_UNAVAILABLE");
    // And so do the gateways' checks on the HTTP port: 503, retry, never a
    // pass nor a 401 that would log the user out.
    let path = format!("{}?audience=app", inkan::http::FORWARD_AUTH_PATH);
    let (status, headers, _) = http_get(served.http, &path).await;
    assert!(
        status.contains(" 503 "),
        "forward-auth while waiting: {status}"
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        header(inkan::http::REASON_HEADER),
        Some("STORAGE_UNAVAILABLE")
    );
    assert_eq!(header(inkan::http::ACTION_HEADER), Some("retry"));

    // It keeps trying, and is still there doing so.
    eventually("a second attempt", Duration::from_secs(20), || {
        let n = attempts(&served);
        async move { n >= 2 }
    })
    .await;
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    let logged = served.logged(|e| e.to_string().contains("pw-never-logged"));
    assert!(
        logged.is_empty(),
        "the database password was logged: {logged:?}"
    );
    let attempt = served.logged(|e| e.to_string().contains("trying again"));
    assert!(
        attempt[0]
            .to_string()
            .to_ascii_lowercase()
            .contains("connection refused"),
        "the attempt's log line does not say why: {:?}",
        attempt[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_before_its_database_serves_once_it_exists() {
    if !Backend::Postgres.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, dir.path()).await;
    let name = url
        .rsplit('/')
        .next()
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let server = std::env::var("INKAN_TEST_DATABASE_URL").unwrap();
    let admin = Database::connect(server).await.unwrap();
    // Not there when the replica starts: as a cluster still bootstrapping.
    admin
        .execute_unprepared(&format!("DROP DATABASE {name}"))
        .await
        .unwrap();
    let config = server_config(
        dir.path(),
        &url,
        "log_format = \"json\"\nmigrate_on_start = true",
    );
    let served = tokio::task::spawn_blocking(move || Served::start_waiting(&config))
        .await
        .unwrap();
    let mut client = served.client().await;
    assert_refused(client.issue(issue()).await, "STORAGE_UNAVAILABLE");

    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    // Migrated (migrate_on_start waits the same way) and serving, by itself.
    eventually(
        "serving once the database exists",
        Duration::from_secs(30),
        || {
            let served = &served;
            async move { served.count(|e| e["message"] == "serving") == 1 }
        },
    )
    .await;
    assert_eq!(health(&served, "").await, 1);
    let pair = client
        .issue(issue())
        .await
        .expect("Issue once ready")
        .into_inner();
    assert!(!pair.refresh_token.is_empty());
    drop(served);
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
}
