//! Hostile requests: over-limit messages, absurd lists, broken metadata and
//! methods that do not exist. Each gets a clear answer and the server keeps
//! serving.

use crate::common;

use common::{admin, assert_refused, issue_request, verify, with_key, TestApp, VERIFIER_KEY};
use inkan::proto::v1::{IssueRequest, VerifyRequest};
use prost_types::{value::Kind, Struct, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_answers_and_the_server_keeps_serving() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;

    // Over the documented 64 KiB: refused by the transport, undecoded.
    let huge = VerifyRequest {
        access_token: "A".repeat(100 * 1024),
        ..Default::default()
    };
    let status = client
        .verify(with_key(huge, VERIFIER_KEY))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");

    // Absurd lists and shapes.
    let many_audiences = IssueRequest {
        audience: (0..17).map(|i| format!("aud-{i}")).collect(),
        ..issue_request("x")
    };
    let msg = assert_refused(client.issue(admin(many_audiences)).await, "INVALID_REQUEST");
    assert!(msg.contains("more than 16"), "{msg}");
    let many_required = VerifyRequest {
        access_token: "x.y.z".into(),
        required_scopes: (0..65).map(|i| format!("s{i}")).collect(),
        ..Default::default()
    };
    assert_refused(
        client.verify(with_key(many_required, VERIFIER_KEY)).await,
        "INVALID_REQUEST",
    );
    let mut deep = Struct::default();
    for _ in 0..20 {
        deep = Struct {
            fields: [(
                "x".to_owned(),
                Value {
                    kind: Some(Kind::StructValue(deep)),
                },
            )]
            .into(),
        };
    }
    let nested = IssueRequest {
        claims: Some(deep),
        ..issue_request("x")
    };
    let msg = assert_refused(client.issue(admin(nested)).await, "INVALID_REQUEST");
    assert!(msg.contains("nested deeper than 16"), "{msg}");
    let nan = IssueRequest {
        claims: Some(Struct {
            fields: [(
                "n".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        }),
        ..issue_request("x")
    };
    assert_refused(client.issue(admin(nan)).await, "INVALID_REQUEST");

    // A malformed grpc-timeout is not a crash.
    let mut request = admin(issue_request("user-t"));
    request
        .metadata_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let answered = client.issue(request).await;
    assert!(
        answered.is_ok(),
        "a malformed grpc-timeout broke the call: {answered:?}"
    );

    // A method that does not exist.
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/inkan.v1.TokenService/Impersonate");
    let codec = tonic_prost::ProstCodec::<IssueRequest, IssueRequest>::default();
    let missing = grpc
        .unary(tonic::Request::new(IssueRequest::default()), path, codec)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unimplemented);

    // Still serving.
    let pair = client
        .issue(admin(issue_request("user-after")))
        .await
        .unwrap()
        .into_inner();
    client.verify(verify(&pair.access_token)).await.unwrap();
    app.stop().await;
}
