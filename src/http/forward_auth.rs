//! Forward-auth, `/auth/verify`: a gateway (nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz` over HTTP) passes on the user's
//! `Authorization: Bearer` header, with its own API key in `x-api-key` (or,
//! over mutual TLS, its client certificate), and lets the request through
//! only on 200. Any method is answered, since
//! nginx's subrequest keeps the original request's.
//!
//! The query names what the service behind the gateway expects:
//! `audience` (required: a gateway that checked no audience would let in
//! tokens minted for any other service) and `scope` (space-separated
//! scopes the token must hold, optional).
//!
//! - 200, with `X-Auth-Subject`, `X-Auth-Scopes` (space-separated),
//!   `X-Auth-Session` and `X-Auth-Client-Id` for the gateway to forward;
//! - 401 `WWW-Authenticate: Bearer realm="inkan"` when the request has no
//!   bearer token (RFC 6750 §3.1: no error code);
//! - 401 `Bearer error="invalid_token", error_description="<REASON>"`
//!   when the token is refused, with `X-Auth-Reason` and `X-Auth-Action`
//!   (the contract's reason and action);
//! - 403 `Bearer error="insufficient_scope"` when a scope is missing;
//! - 401 / 403 without a Bearer challenge when the gateway itself is not a
//!   caller / may not verify (`X-Auth-Reason: CALLER_…`), 400 for a bad
//!   query, 503 when inkan cannot answer now: all the gateway's problem,
//!   never the user's token's.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    caller::{identify, Accept},
    check::{Check, Ended},
    no_store, Public,
};
use crate::{
    authority::{AuthorityError, MAX_SCOPES},
    ids::{Audience, Scope},
    metrics::CheckEndpoint,
    net::ConnectionInfo,
    reason::Reason,
    token::VerifiedAccessToken,
};

/// Where forward-auth is served.
pub const FORWARD_AUTH_PATH: &str = "/auth/verify";

/// The subject of a token that passed.
pub const SUBJECT_HEADER: &str = "x-auth-subject";
/// Its scopes, space-separated.
pub const SCOPES_HEADER: &str = "x-auth-scopes";
/// Its session id.
pub const SESSION_HEADER: &str = "x-auth-session";
/// Its client id.
pub const CLIENT_ID_HEADER: &str = "x-auth-client-id";
/// The contract reason of a refusal.
pub const REASON_HEADER: &str = "x-auth-reason";
/// The contract action of a refusal.
pub const ACTION_HEADER: &str = "x-auth-action";

/// What the gateway expects, from the query.
#[derive(Debug, Deserialize)]
pub(super) struct Expected {
    audience: Option<String>,
    scope: Option<String>,
}

/// The forward-auth handler.
pub(super) async fn forward_auth(
    State(public): State<Arc<Public>>,
    headers: HeaderMap,
    connection: Option<Extension<ConnectionInfo>>,
    expected: Result<Query<Expected>, QueryRejection>,
) -> Response {
    let mut check = Check::start(CheckEndpoint::ForwardAuth);
    let authority = &public.authority;
    let mut scopes = Vec::new();
    let checked = (|| {
        if !(public.ready)() {
            return Err(AuthorityError::NotServing);
        }
        // The gateway first: whoever is not a caller learns nothing of
        // tokens.
        let certificate = connection
            .as_ref()
            .and_then(|Extension(info)| info.client_certificate.as_deref());
        let caller = identify(&public.callers, &headers, certificate, Accept::ApiKeyHeader)?;
        check.caller(&caller);
        authority.may_verify(&caller)?;
        let Query(expected) = expected.map_err(|_| {
            AuthorityError::InvalidRequest(
                "the query does not parse: use audience=NAME and scope=A%20B".into(),
            )
        })?;
        let audience;
        (audience, scopes) = expected.parse()?;
        bearer_token(&headers)
            .map(|token| authority.verify(&caller, token, Some(&audience), &scopes))
            .transpose()
    })();
    match checked {
        Ok(Some(verified)) => {
            check.finish(authority, Ended::Passed(&verified));
            passed(&verified)
        }
        Ok(None) => {
            check.finish(authority, Ended::NoToken);
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"inkan\""),
            );
            no_store(response)
        }
        Err(err) => {
            check.finish(authority, Ended::Refused(&err));
            refused(&err, &scopes)
        }
    }
}

impl Expected {
    /// The audience (required) and scopes the gateway asks for.
    fn parse(self) -> Result<(Audience, Vec<Scope>), AuthorityError> {
        let audience = self.audience.ok_or_else(|| {
            AuthorityError::InvalidRequest(
                "audience is required: name the service behind the gateway \
                 (/auth/verify?audience=orders)"
                    .into(),
            )
        })?;
        let audience = Audience::parse(&audience)?;
        let scopes = self
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.len() > MAX_SCOPES {
            return Err(AuthorityError::InvalidRequest(format!(
                "scope has more than {MAX_SCOPES} entries"
            )));
        }
        Ok((audience, scopes))
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if the
/// request has one; any other scheme, or an empty token, is none.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 200, with what the gateway forwards to the service.
fn passed(verified: &VerifiedAccessToken) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        // Identifiers hold no control characters (they are parsed so); a
        // value that still cannot be a header is left out, never mangled.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put(SUBJECT_HEADER, verified.subject.as_str());
    put(SCOPES_HEADER, &verified.scopes.join(" "));
    if let Some(session) = &verified.session_id {
        put(SESSION_HEADER, &session.to_string());
    }
    if let Some(client) = &verified.client_id {
        put(CLIENT_ID_HEADER, client.as_str());
    }
    no_store(response)
}

/// The refusal, as RFC 6750 and the gateway expect it.
fn refused(err: &AuthorityError, scopes: &[Scope]) -> Response {
    let Some(reason) = err.reason() else {
        return no_store(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let (status, challenge) = match reason {
        Reason::CallerUnauthenticated => (StatusCode::UNAUTHORIZED, None),
        Reason::CallerForbidden => (StatusCode::FORBIDDEN, None),
        Reason::InvalidRequest => (StatusCode::BAD_REQUEST, None),
        Reason::StorageUnavailable | Reason::TooManyStreams => {
            (StatusCode::SERVICE_UNAVAILABLE, None)
        }
        Reason::InsufficientScope => (
            StatusCode::FORBIDDEN,
            Some(format!(
                "Bearer realm=\"inkan\", error=\"insufficient_scope\", \
                 error_description=\"{}\"{}",
                reason.as_str(),
                required_scope(scopes)
            )),
        ),
        // Every other reason is about the token.
        _ => (
            StatusCode::UNAUTHORIZED,
            Some(format!(
                "Bearer realm=\"inkan\", error=\"invalid_token\", error_description=\"{}\"",
                reason.as_str()
            )),
        ),
    };
    let action = reason.action().as_str();
    let mut response = (
        status,
        Json(json!({
            "reason": reason.as_str(),
            "action": action,
            "message": err.to_string(),
        })),
    )
        .into_response();
    let out = response.headers_mut();
    if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        out.insert(header::WWW_AUTHENTICATE, challenge);
    }
    out.insert(
        HeaderName::from_static(REASON_HEADER),
        HeaderValue::from_static(reason.as_str()),
    );
    out.insert(
        HeaderName::from_static(ACTION_HEADER),
        HeaderValue::from_static(action),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        out.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    no_store(response)
}

/// The `scope` attribute of an insufficient-scope challenge: the scopes
/// the gateway asked for, when they can be quoted as they are.
fn required_scope(scopes: &[Scope]) -> String {
    let scope = scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if scope.is_empty() || scope.contains(['"', '\\']) {
        return String::new();
    }
    format!(", scope=\"{scope}\"")
}
