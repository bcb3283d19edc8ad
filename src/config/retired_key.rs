//! How long a retired key's tokens may still be alive: what
//! `keys rotate --drop-retired` waits for before a key leaves the set,
//! worked out from the same settings the server runs with.

use std::time::Duration;

use super::{ConfigError, Settings};

/// Time allowed, beyond one reload interval, for a changed key-set file to
/// reach every replica. A Kubernetes Secret update reaches a pod's volume
/// within the kubelet's sync period plus its cache's TTL, a minute or two
/// by default; five minutes leaves room for a slow rollout.
pub const KEY_ROLLOUT_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// How long after a key stops signing a token it signed may still be
/// accepted: every replica must first load the file that retired it (one
/// reload interval and [`KEY_ROLLOUT_ALLOWANCE`]); the last token it signed
/// then lives for the access-token lifetime, plus the leeway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetiredKeyLifetime {
    /// How long the last token the key signed lives.
    pub access_token_ttl: Duration,
    /// How long past its `exp` that token is still accepted.
    pub leeway: Duration,
    /// How long a replica may take to notice the changed file.
    pub key_reload_interval: Duration,
    /// Time for every replica to load the file that retired the key.
    pub rollout: Duration,
}

impl RetiredKeyLifetime {
    /// The whole wait.
    pub fn total(&self) -> Duration {
        self.access_token_ttl + self.leeway + self.key_reload_interval + self.rollout
    }
}

impl std::fmt::Display for RetiredKeyLifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = humantime::format_duration;
        write!(
            f,
            "{} (access_token_ttl {} + leeway {} + key_reload_interval {} + {} for every replica to \
             load the file that retired the key)",
            show(self.total()),
            show(self.access_token_ttl),
            show(self.leeway),
            show(self.key_reload_interval),
            show(self.rollout)
        )
    }
}

impl Settings {
    /// How long a retired key's tokens may still be alive, from the same
    /// settings the server runs with: what `keys rotate --drop-retired`
    /// waits for.
    pub fn retired_key_lifetime(&self) -> Result<RetiredKeyLifetime, ConfigError> {
        Ok(RetiredKeyLifetime {
            access_token_ttl: self.access_token_ttl()?,
            leeway: self.leeway()?,
            key_reload_interval: self.key_reload_interval()?,
            rollout: KEY_ROLLOUT_ALLOWANCE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_key_waits_for_the_tokens_the_server_would_issue() {
        let lifetime = Settings::default().retired_key_lifetime().unwrap();
        assert_eq!(lifetime.total(), Duration::from_secs(20 * 60 + 32));
        assert!(lifetime
            .to_string()
            .starts_with("20m 32s (access_token_ttl 15m"));
        let short = Settings {
            access_token_ttl: Some(Duration::from_secs(60)),
            leeway: Some(Duration::ZERO),
            key_reload_interval: Some(Duration::from_secs(1)),
            ..Settings::default()
        };
        assert_eq!(
            short.retired_key_lifetime().unwrap().total(),
            Duration::from_secs(6 * 60 + 1)
        );
    }
}
