//! The token authority: issuing, refreshing, verifying and revoking, as
//! domain operations. It knows keys, tokens, the ledger, the revocation cache
//! and who is calling; it knows nothing of gRPC or HTTP.

mod error;
mod legacy;
mod placeholder;
mod requests;
mod sessions;
mod verify;

use std::{sync::Arc, time::Duration};

pub use error::AuthorityError;
pub use requests::{
    revocation_reason, IssueCommand, RevokeTarget, MAX_AUDIENCES, MAX_CUSTOM_CLAIMS_BYTES,
    MAX_DEVICE_BYTES, MAX_SCOPES,
};

use crate::{
    callers::{Caller, Permission},
    clock::Clock,
    ids::{ClientId, Kid, SessionId, Subject, TokenId},
    keys::{KeySet, KeyStore, PublishedKeys, SigningKey, VerifyingKeys},
    ledger::Ledger,
    metrics::Metrics,
    revocations::RevocationCache,
    token::{self, AccessTokenClaims, Expectations, Grant},
};

/// Lifetimes and tolerances, validated at start-up (all positive).
#[derive(Debug, Clone)]
pub struct Policy {
    /// The exact `iss` of every token.
    pub issuer: String,
    /// How long an access token lives.
    pub access_token_ttl: Duration,
    /// How long a refresh token lasts unused; slides with each rotation.
    pub refresh_token_idle_ttl: Duration,
    /// The absolute end of a session, counted from login.
    pub session_lifetime: Duration,
    /// Tolerated clock difference when checking token times.
    pub leeway: Duration,
    /// How long a client may retry a refresh and get the same successor.
    pub reuse_grace: Duration,
    /// Whether Refresh needs the `refresh` permission.
    pub refresh_requires_permission: bool,
    /// Whether Verify and WatchRevocations need the `verify` permission
    /// (otherwise any authenticated caller may).
    pub verify_requires_permission: bool,
    /// Whether Issue is open to callers without the `issue` permission: an
    /// explicit choice outside dev mode.
    pub open_issue: bool,
}

/// A freshly issued or refreshed pair. Its `Debug` hides both tokens.
pub struct TokenPair {
    /// The signed access token (a JWT).
    pub access_token: String,
    /// When the access token expires, in Unix seconds.
    pub access_token_expires_at: i64,
    /// The opaque refresh token that gets the next pair.
    pub refresh_token: token::RefreshToken,
    /// When the refresh token expires unused, in Unix seconds.
    pub refresh_token_expires_at: i64,
    /// The session both tokens belong to.
    pub session_id: SessionId,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// What a key-set reload put in service that the operator should hear of.
#[derive(Debug, Default)]
pub struct Reloaded {
    /// Problems that did not stop the reload, one sentence each.
    pub warnings: Vec<String>,
    /// The active key, when it signs without having been published first
    /// because the key file allows it: a security event.
    pub unpublished_active: Option<Kid>,
}

/// The token authority. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Authority {
    policy: Policy,
    keys: KeyStore,
    ledger: Ledger,
    revocations: Arc<RevocationCache>,
    metrics: Arc<Metrics>,
    /// Placeholder-signed tokens already logged.
    placeholder_seen: placeholder::SeenOnce,
    /// Where "now" comes from: the system clock, or a test's.
    clock: Clock,
}

/// How long consumers may cache the JWKS. Kept well below the time a `next`
/// key is published before it signs, so a consumer's cached set always knows
/// the key that signs next.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// How long a `next` key must have been published before it may sign:
/// twice the JWKS max-age, so a consumer that fetched the key set just
/// before the key appeared has refetched well before the key signs.
pub const NEXT_KEY_MIN_PUBLISHED: Duration = Duration::from_secs(600);

/// Shows each legacy key's sunset as a gauge, for the alert that warns of it.
fn publish_sunsets(metrics: &Metrics, set: &KeySet) {
    metrics.keys().legacy_sunsets(
        set.keys()
            .iter()
            .filter_map(|k| Some((k.kid().as_str(), k.legacy()?.sunset))),
    );
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Authority {
    /// An authority over these keys and this ledger.
    pub fn new(
        policy: Policy,
        keys: KeyStore,
        ledger: Ledger,
        revocations: Arc<RevocationCache>,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics
            .keys()
            .active_key(keys.current().set().active().kid().as_str());
        publish_sunsets(&metrics, keys.current().set());
        Self {
            policy,
            keys,
            ledger,
            revocations,
            metrics,
            placeholder_seen: placeholder::SeenOnce::default(),
            clock: Clock::system(),
        }
    }

    /// This authority, reading the time from `clock` (a test's).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time, in Unix seconds, by this authority's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The counters this authority keeps.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The key store, for reloads and key watchers.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The ledger, for health checks and maintenance.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Signs a token with the active key and verifies it through the keys as
    /// published (the JWKS, parsed back as a consumer would), or through the
    /// key set itself when the active key is a secret, which is never
    /// published. The server reports SERVING only after this passes.
    pub fn self_test(&self) -> Result<(), String> {
        self.self_test_keys(&self.keys.current())
    }

    /// Puts a new key set in service if it passes the self-test; otherwise
    /// the keys in service stay, and the reason comes back.
    ///
    /// Against the set in service: a kid that keeps its name but changes its
    /// material or algorithm is refused (its tokens would all fail, and
    /// consumers holding the old key would never refetch). So is an active
    /// key the set in service never published: a key nobody has seen must
    /// not start signing because a file changed, unless the key file says
    /// so for that key (`"allow_unpublished": true`, an emergency swap),
    /// which [`Reloaded::unpublished_active`] reports. Dropping the active
    /// key is allowed (an emergency may need it) but comes back as a
    /// warning.
    pub fn reload_keys(&self, set: KeySet) -> Result<Reloaded, String> {
        let current = self.keys.current();
        let mut reloaded = Reloaded::default();
        for old in current.set().keys() {
            match set.keys().iter().find(|new| new.kid() == old.kid()) {
                Some(new) if new.fingerprint() != old.fingerprint() || new.alg() != old.alg() => {
                    return Err(format!(
                        "key {} changed its material or algorithm; a new key needs a new kid",
                        old.kid()
                    ));
                }
                Some(_) => {}
                None if old.kid() == current.set().active().kid() => {
                    reloaded.warnings.push(format!(
                        "the active key {} was removed: tokens it signed are refused from now on",
                        old.kid()
                    ))
                }
                None => {}
            }
        }
        let active = set.active();
        if !current.set().keys().iter().any(|k| k.kid() == active.kid()) {
            if !active.allow_unpublished() {
                return Err(format!(
                    "key {} would sign without having been published first: publish it as next \
                     (inkan keys rotate) and promote it later, or, for an emergency swap, set \
                     \"allow_unpublished\": true on it in the key-set file",
                    active.kid()
                ));
            }
            reloaded.unpublished_active = Some(active.kid().clone());
        }
        let candidate = Arc::new(self.keys.prepare(set));
        self.self_test_keys(&candidate)?;
        self.metrics
            .keys()
            .active_key(candidate.set().active().kid().as_str());
        publish_sunsets(&self.metrics, candidate.set());
        self.keys.replace_published(candidate);
        Ok(reloaded)
    }

    fn self_test_keys(&self, keys: &PublishedKeys) -> Result<(), String> {
        let active = keys.set().active();
        let published = if active.alg().is_symmetric() {
            keys.verifying().clone()
        } else {
            let parsed = serde_json::from_str(keys.jwks_json())
                .map_err(|e| format!("the published JWKS does not parse: {e}"))?;
            VerifyingKeys::from_jwks(&parsed)
        };
        let now = self.now();
        let grant = Grant {
            audience: vec!["inkan-self-test".into()],
            scopes: vec!["self-test".into()],
            claims: Default::default(),
        };
        let subject = Subject::parse("inkan-self-test").map_err(|e| e.to_string())?;
        let client = ClientId::parse("inkan").map_err(|e| e.to_string())?;
        let token = self
            .sign(
                active,
                &subject,
                &client,
                SessionId::generate(),
                &grant,
                now,
                now + 60,
            )
            .map_err(|e| e.to_string())?;
        token::verify_access_token(
            &token,
            &published,
            &self.expectations(Some("inkan-self-test"), &[], now),
        )
        .map(|_| ())
        .map_err(|e| {
            format!(
                "a token signed with key {} does not verify through the published keys: {e}",
                active.kid()
            )
        })
    }

    fn expectations<'a>(
        &'a self,
        audience: Option<&'a str>,
        scopes: &'a [crate::ids::Scope],
        now: i64,
    ) -> Expectations<'a> {
        Expectations {
            issuer: &self.policy.issuer,
            audience,
            required_scopes: scopes,
            leeway: self.policy.leeway,
            now,
            allow_expired: false,
            revocations: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        key: &SigningKey,
        subject: &Subject,
        client_id: &ClientId,
        session: SessionId,
        grant: &Grant,
        now: i64,
        expires_at: i64,
    ) -> Result<String, AuthorityError> {
        let claims = AccessTokenClaims {
            iss: &self.policy.issuer,
            sub: subject.as_str(),
            aud: &grant.audience,
            exp: expires_at,
            iat: now,
            nbf: now,
            jti: TokenId::generate().to_string(),
            sid: session.to_string(),
            client_id: client_id.as_str(),
            scope: grant.scopes.join(" "),
            custom: &grant.claims,
        };
        token::sign_access_token(&claims, key).map_err(AuthorityError::Signing)
    }

    /// Refuses a caller that may not start sessions. Checked before the
    /// request is even parsed, so an unauthorised caller learns nothing
    /// about what a valid request looks like.
    pub fn may_issue(&self, caller: &Caller) -> Result<(), AuthorityError> {
        if self.policy.open_issue {
            Ok(())
        } else {
            Self::require(caller, Permission::Issue)
        }
    }

    /// Refuses a caller without the `admin` permission.
    pub fn may_administer(&self, caller: &Caller) -> Result<(), AuthorityError> {
        Self::require(caller, Permission::Admin)
    }

    /// Refuses a caller that did not prove who it is, or, where the
    /// configuration asks for it, one without the `verify` permission.
    pub fn may_verify(&self, caller: &Caller) -> Result<(), AuthorityError> {
        if self.policy.verify_requires_permission {
            Self::require(caller, Permission::Verify)
        } else if caller.is_authenticated() {
            Ok(())
        } else {
            Err(AuthorityError::CallerUnauthenticated)
        }
    }

    fn require(caller: &Caller, permission: Permission) -> Result<(), AuthorityError> {
        if !caller.is_authenticated() {
            return Err(AuthorityError::CallerUnauthenticated);
        }
        if !caller.may(permission) {
            return Err(AuthorityError::CallerForbidden(permission));
        }
        Ok(())
    }
}
