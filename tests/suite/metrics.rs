//! `/metrics` after a whole life cycle: every metric the operator guide
//! lists is there, with the counts the calls made.

use crate::common;

use inkan::proto::v1::{
    revoke_request::Target, GetJwksRequest, ListSessionsRequest, RefreshRequest, RevokeRequest,
    WatchKeysRequest, WatchRevocationsRequest,
};

use common::{
    admin, assert_refused, issue_request, metrics_showing, verify, with_key, TestApp, VERIFIER_KEY,
};

fn revoke(target: Target) -> tonic::Request<RevokeRequest> {
    admin(RevokeRequest {
        target: Some(target),
        reason: "test".into(),
    })
}

crate::backend_tests! {
    async fn a_life_cycle_shows_in_every_metric(app: TestApp) {
        let mut client = app.client().await;
        let refresh = |token: &str| RefreshRequest { refresh_token: token.into() };

        // Issue, Verify ok, refresh, a retry within the grace window, a
        // second rotation, then the first token again: reuse.
        let a = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        client.verify(verify(&a.access_token)).await.unwrap();
        let b = client.refresh(refresh(&a.refresh_token)).await.unwrap().into_inner();
        let retried = client.refresh(refresh(&a.refresh_token)).await.unwrap().into_inner();
        assert_eq!(retried.refresh_token, b.refresh_token);
        client.refresh(refresh(&b.refresh_token)).await.unwrap();
        assert_refused(client.refresh(refresh(&a.refresh_token)).await, "REFRESH_TOKEN_REUSED");
        assert_refused(client.verify(verify(&a.access_token)).await, "SESSION_REVOKED");

        // One revocation of each kind; the subject has two sessions.
        let by_refresh = client.issue(admin(issue_request("user-43"))).await.unwrap().into_inner();
        client.revoke(revoke(Target::RefreshToken(by_refresh.refresh_token))).await.unwrap();
        let by_access = client.issue(admin(issue_request("user-44"))).await.unwrap().into_inner();
        client.revoke(revoke(Target::AccessToken(by_access.access_token))).await.unwrap();
        let by_session = client.issue(admin(issue_request("user-45"))).await.unwrap().into_inner();
        client.revoke(revoke(Target::SessionId(by_session.session_id))).await.unwrap();
        for _ in 0..2 {
            client.issue(admin(issue_request("user-46"))).await.unwrap();
        }
        let ended = client.revoke(revoke(Target::Subject("user-46".into()))).await.unwrap();
        assert_eq!(ended.into_inner().sessions_revoked, 2);

        client
            .list_sessions(admin(ListSessionsRequest { subject: "user-46".into() }))
            .await
            .unwrap();
        client.get_jwks(GetJwksRequest {}).await.unwrap();
        let _keys = client.watch_keys(WatchKeysRequest {}).await.unwrap();
        let _revocations = client
            .watch_revocations(with_key(WatchRevocationsRequest { since: String::new() }, VERIFIER_KEY))
            .await
            .unwrap();

        // A key reload: a next key published.
        let mut file = inkan::keys::KeySetFile::read(&app.keys_path).unwrap();
        inkan::keys::rotation::add_next(&mut file, None).unwrap();
        file.write(&app.keys_path).unwrap();

        let text = metrics_showing(&app, "inkan_key_reloads_total{outcome=\"applied\"} 1").await;
        let active = app.keys.active().kid().to_string();
        let expected = [
            r#"inkan_rpc_calls_total{method="Issue",outcome="ok"} 6"#,
            r#"inkan_rpc_calls_total{method="Verify",outcome="ok"} 1"#,
            r#"inkan_rpc_calls_total{method="Verify",outcome="SESSION_REVOKED"} 1"#,
            r#"inkan_rpc_calls_total{method="Refresh",outcome="ok"} 3"#,
            r#"inkan_rpc_calls_total{method="Refresh",outcome="REFRESH_TOKEN_REUSED"} 1"#,
            r#"inkan_rpc_calls_total{method="Revoke",outcome="ok"} 4"#,
            r#"inkan_rpc_calls_total{method="ListSessions",outcome="ok"} 1"#,
            r#"inkan_rpc_calls_total{method="GetJwks",outcome="ok"} 1"#,
            r#"inkan_rpc_calls_total{method="WatchKeys",outcome="ok"} 1"#,
            r#"inkan_rpc_calls_total{method="WatchRevocations",outcome="ok"} 1"#,
            r#"inkan_rpc_duration_seconds_count{method="Verify"} 2"#,
            r#"inkan_rpc_duration_seconds_count{method="Refresh"} 4"#,
            r#"inkan_failures_total{reason="REFRESH_TOKEN_REUSED"} 1"#,
            "inkan_sessions_issued_total 6",
            r#"inkan_refreshes_total{outcome="rotated"} 2"#,
            r#"inkan_refreshes_total{outcome="grace_retry"} 1"#,
            "inkan_refresh_reuse_detected_total 1",
            r#"inkan_sessions_revoked_total{by="refresh_token"} 1"#,
            r#"inkan_sessions_revoked_total{by="access_token"} 1"#,
            r#"inkan_sessions_revoked_total{by="session"} 1"#,
            r#"inkan_sessions_revoked_total{by="subject"} 2"#,
            r#"inkan_sessions_revoked_total{by="reuse"} 1"#,
            r#"inkan_key_reloads_total{outcome="refused"} 0"#,
            &format!("inkan_active_key_info{{kid=\"{active}\"}} 1"),
            r#"inkan_ledger_call_duration_seconds_count{call="open_session"} 6"#,
            r#"inkan_ledger_call_duration_seconds_count{call="rotate"} 4"#,
            // One per session ended: the reuse, three single ones, two by subject.
            r#"inkan_ledger_call_duration_seconds_count{call="revoke"} 6"#,
            // The purge runs once at start-up.
            r#"inkan_ledger_call_duration_seconds_count{call="purge"}"#,
            r#"inkan_ledger_pool_connections{state="idle"}"#,
            r#"inkan_ledger_pool_connections{state="in_use"}"#,
        ];
        for line in expected {
            assert!(text.contains(line), "/metrics lacks {line}:\n{text}");
        }
        let lag: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("inkan_revocation_feed_lag_seconds "))
            .expect("the feed's lag is exported")
            .parse()
            .unwrap();
        assert!((0.0..5.0).contains(&lag), "the feed polls twice a second, lag {lag}");
    }
}
