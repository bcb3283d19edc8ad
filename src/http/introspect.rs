//! RFC 7662 token introspection, `POST /oauth2/introspect`: a resource
//! server (or its gateway, such as Apache with mod_auth_openidc) posts
//! `token=…` as `application/x-www-form-urlencoded` and learns whether the
//! token is active, by the Verify path: signature, claims and revocations.
//!
//! - The caller authenticates first (see `caller.rs`: an API key, or the
//!   connection's client certificate): without credentials that name a
//!   caller, 401 with a Basic challenge; a caller that may not
//!   verify, 403. Nobody else learns anything about a token.
//! - `audience`, when posted, is the audience the token must carry, as in
//!   Verify; without it, the audience is the resource server's to check
//!   (the response carries `aud`). `token_type_hint` is accepted and
//!   ignored: only access tokens can be active here (a refresh token is
//!   opaque and answers inactive).
//! - An inactive token is `{"active":false}` and nothing more, whatever
//!   the reason (RFC 7662 §2.2); the reason is counted and logged.
//! - The body is at most [`MAX_BODY_BYTES`] and must arrive within
//!   [`BODY_TIMEOUT`]; a ledger fault is 503, never "inactive".

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRequest, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    caller::{identify, Accept},
    check::{Check, Ended},
    no_store, Public,
};
use crate::{
    authority::AuthorityError, ids::Audience, metrics::CheckEndpoint, net::ConnectionInfo,
    reason::Reason, token::VerifiedAccessToken,
};

/// Where introspection is served.
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";

/// The largest introspection body read: a token, a hint and an audience
/// fit many times over.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How long a client may take to send the body, once its head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The form, as RFC 7662 §2.1 defines it, and an expected audience.
/// `token_type_hint`, like any parameter not named here, is ignored. No
/// `Debug`: it holds a token.
#[derive(Deserialize)]
struct IntrospectionRequest {
    token: String,
    audience: Option<String>,
}

/// Why a request was not answered with an introspection response.
enum Refusal {
    /// Refused by the authority: the caller, the token, a ledger fault.
    Authority(AuthorityError),
    /// The body was larger than [`MAX_BODY_BYTES`].
    TooLarge,
}

/// The introspection handler.
pub(super) async fn introspect(State(public): State<Arc<Public>>, request: Request) -> Response {
    let mut check = Check::start(CheckEndpoint::Introspect);
    let authority = &public.authority;
    let checked = async {
        if !(public.ready)() {
            return Err(Refusal::Authority(AuthorityError::NotServing));
        }
        // Who is asking, before a byte of the body is read.
        let certificate = request
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(|info| info.client_certificate.as_deref());
        let caller = identify(
            &public.callers,
            request.headers(),
            certificate,
            Accept::ClientCredentials,
        )
        .map_err(Refusal::Authority)?;
        check.caller(&caller);
        authority.may_verify(&caller).map_err(Refusal::Authority)?;
        let form = read_form(request).await?;
        let audience = match form.audience.as_deref() {
            None | Some("") => None,
            Some(audience) => Some(Audience::parse(audience).map_err(|e| invalid(e.to_string()))?),
        };
        if form.token.is_empty() {
            return Err(invalid("token is required".into()));
        }
        authority
            .verify(&caller, &form.token, audience.as_ref(), &[])
            .map_err(Refusal::Authority)
    }
    .await;
    match checked {
        Ok(verified) => {
            check.finish(authority, Ended::Passed(&verified));
            active(&verified, &authority.policy().issuer)
        }
        Err(Refusal::TooLarge) => {
            let err = invalid_request(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
            check.finish(authority, Ended::Refused(&err));
            oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &err)
        }
        Err(Refusal::Authority(err)) => {
            check.finish(authority, Ended::Refused(&err));
            refused(&err)
        }
    }
}

fn invalid_request(message: String) -> AuthorityError {
    AuthorityError::InvalidRequest(message)
}

fn invalid(message: String) -> Refusal {
    Refusal::Authority(invalid_request(message))
}

/// The form of `request`, read within the limits.
async fn read_form(request: Request) -> Result<IntrospectionRequest, Refusal> {
    let read = Form::<IntrospectionRequest>::from_request(request, &());
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(invalid(format!(
            "the body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ))),
        Ok(Ok(Form(form))) => Ok(form),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Refusal::TooLarge)
        }
        Ok(Err(_)) => Err(invalid(
            "send application/x-www-form-urlencoded with token=..., each parameter once".into(),
        )),
    }
}

/// RFC 7662 §2.2: what the token says, for an active one. Custom claims
/// come first, so no registered name can be overwritten by one.
fn active(verified: &VerifiedAccessToken, issuer: &str) -> Response {
    let mut body: Map<String, Value> = verified.claims.clone();
    let aud = match verified.audience.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let registered = json!({
        "active": true,
        "token_type": "Bearer",
        "iss": issuer,
        "sub": verified.subject.as_str(),
        "aud": aud,
        "scope": verified.scopes.join(" "),
        "iat": verified.issued_at,
        "exp": verified.expires_at,
    });
    if let Value::Object(registered) = registered {
        body.extend(registered);
    }
    let mut optional = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            body.insert(name.into(), Value::String(value));
        }
    };
    optional(
        "client_id",
        verified.client_id.as_ref().map(|c| c.to_string()),
    );
    optional("jti", verified.token_id.as_ref().map(|t| t.to_string()));
    optional("sid", verified.session_id.as_ref().map(|s| s.to_string()));
    no_store(Json(Value::Object(body)).into_response())
}

/// A refusal: inactive for anything about the token, an OAuth 2.0 error
/// (RFC 6749 §5.2) for anything about the caller or the request.
fn refused(err: &AuthorityError) -> Response {
    let Some(reason) = err.reason() else {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", err);
    };
    match reason {
        Reason::CallerUnauthenticated => {
            let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", err);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"inkan\""),
            );
            response
        }
        Reason::CallerForbidden => oauth_error(StatusCode::FORBIDDEN, "unauthorized_client", err),
        Reason::InvalidRequest => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", err),
        Reason::StorageUnavailable | Reason::TooManyStreams => {
            let mut response = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                err,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        // Every other reason is about the token, which is then inactive.
        _ => no_store(Json(json!({ "active": false })).into_response()),
    }
}

/// An OAuth 2.0 error response with the authority's one sentence.
fn oauth_error(status: StatusCode, error: &str, err: &AuthorityError) -> Response {
    let description = match err.reason() {
        Some(_) => err.to_string(),
        // A fault's cause is logged, never sent.
        None => "inkan could not answer; this is a fault of the server".into(),
    };
    no_store(
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response(),
    )
}
