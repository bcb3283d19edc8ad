//! What one replica lets its callers hold at once: connections, streams,
//! calls in flight, message sizes, and how long a silent or idle
//! connection may stay. Nothing an anonymous client sends may grow the
//! server without bound.
//!
//! The defaults are sized for the Kubernetes manifest's 256 MiB memory
//! limit. The worst an attacker can make the server hold is about:
//!
//! | what | bound |
//! |---|---|
//! | request bytes received, not yet read | `max_connections` × 128 KiB (the HTTP/2 connection window) = 32 MiB |
//! | requests being decoded | `max_calls_in_flight` × `max_request_bytes` = 16 MiB |
//! | watch streams | (callers × `max_watch_streams_per_caller` + `max_anonymous_watch_streams`) × a few KiB |
//!
//! on top of the ~40 MiB a replica uses to serve (see docs/operations.md).

use std::time::Duration;

use super::{ConfigError, Settings};

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections each port holds at once (an idle one makes room).
    pub max_connections: usize,
    /// HTTP/2 streams (calls) one connection may have open at once.
    pub max_streams_per_connection: u32,
    /// Calls being served at once on the gRPC port; more wait their turn
    /// (without their request being read).
    pub max_calls_in_flight: usize,
    /// The largest request message `TokenService` decodes.
    pub max_request_bytes: usize,
    /// How long a connection may send nothing after it is opened.
    pub preface_timeout: Duration,
    /// How long a gRPC connection may stay with no call open.
    pub idle_timeout: Duration,
    /// How often an HTTP/2 ping checks that a client is still there.
    pub http2_keepalive_interval: Duration,
    /// How long a ping may wait for its answer before the connection closes.
    pub http2_keepalive_timeout: Duration,
    /// `WatchKeys` and `WatchRevocations` streams one authenticated caller
    /// may hold open.
    pub max_watch_streams_per_caller: usize,
    /// Such streams all anonymous callers together may hold open.
    pub max_anonymous_watch_streams: usize,
}

/// The default of `max_request_bytes`: far above any legitimate request
/// (Issue's custom claims are at most 4 KiB), far below tonic's 4 MiB.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The largest message the health service decodes: a service name.
pub const HEALTH_MAX_REQUEST_BYTES: usize = 4 * 1024;

/// The largest message the reflection services decode: a symbol or a file
/// name.
pub const REFLECTION_MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The HTTP/2 flow-control windows the gRPC port offers: how much a client
/// may send that the server has not yet read, per stream and per
/// connection. Requests are small; hyper's 1 MiB default would let each
/// connection park a megabyte.
pub const STREAM_WINDOW_BYTES: u32 = 64 * 1024;
/// See [`STREAM_WINDOW_BYTES`].
pub const CONNECTION_WINDOW_BYTES: u32 = 128 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_streams_per_connection: 100,
            max_calls_in_flight: 256,
            max_request_bytes: MAX_REQUEST_BYTES,
            preface_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            http2_keepalive_interval: Duration::from_secs(60),
            http2_keepalive_timeout: Duration::from_secs(20),
            max_watch_streams_per_caller: 16,
            max_anonymous_watch_streams: 16,
        }
    }
}

impl Settings {
    /// The limits these settings ask for, each checked to be usable.
    pub(super) fn limits(&self, preface_timeout: Duration) -> Result<Limits, ConfigError> {
        let defaults = Limits::default();
        let at_least_one = |name: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(ConfigError::Invalid(format!("{name} must be at least 1"))),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let max_request_bytes = self.max_request_bytes.unwrap_or(defaults.max_request_bytes);
        if !(1024..=4 * 1024 * 1024).contains(&max_request_bytes) {
            return Err(ConfigError::Invalid(
                "max_request_bytes must be between 1024 and 4194304 (4 MiB)".into(),
            ));
        }
        let max_streams_per_connection = match self.max_streams_per_connection {
            Some(0) => {
                return Err(ConfigError::Invalid(
                    "max_streams_per_connection must be at least 1".into(),
                ))
            }
            Some(n) => n,
            None => defaults.max_streams_per_connection,
        };
        Ok(Limits {
            max_connections: at_least_one(
                "max_connections",
                self.max_connections,
                defaults.max_connections,
            )?,
            max_streams_per_connection,
            max_calls_in_flight: at_least_one(
                "max_calls_in_flight",
                self.max_calls_in_flight,
                defaults.max_calls_in_flight,
            )?,
            max_request_bytes,
            preface_timeout,
            idle_timeout: super::validate::positive(
                "idle_timeout",
                self.idle_timeout,
                defaults.idle_timeout,
            )?,
            http2_keepalive_interval: super::validate::positive(
                "http2_keepalive_interval",
                self.http2_keepalive_interval,
                defaults.http2_keepalive_interval,
            )?,
            http2_keepalive_timeout: super::validate::positive(
                "http2_keepalive_timeout",
                self.http2_keepalive_timeout,
                defaults.http2_keepalive_timeout,
            )?,
            // Zero is allowed: no watch streams for anyone of that kind.
            max_watch_streams_per_caller: self
                .max_watch_streams_per_caller
                .unwrap_or(defaults.max_watch_streams_per_caller),
            max_anonymous_watch_streams: self
                .max_anonymous_watch_streams
                .unwrap_or(defaults.max_anonymous_watch_streams),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest's `inkan.toml` states the limits it was sized with:
    /// they parse, and they are the defaults this table documents.
    #[test]
    fn the_kubernetes_config_states_the_default_limits() {
        use figment::providers::{Format, Toml};
        let manifest = include_str!("../../k8s/configmap.yaml");
        let toml: String = manifest
            .split_once("inkan.toml: |\n")
            .expect("the ConfigMap holds inkan.toml")
            .1
            .lines()
            .map(|line| line.strip_prefix("    ").unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        let settings: Settings = figment::Figment::new()
            .merge(Toml::string(&toml))
            .extract()
            .expect("the ConfigMap's inkan.toml parses");
        assert_eq!(settings.max_connections, Some(256));
        let limits = settings.limits(Duration::from_secs(10)).unwrap();
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn every_limit_has_a_default_and_zero_is_refused_where_it_would_stop_serving() {
        let limits = Settings::default().limits(Duration::from_secs(10)).unwrap();
        assert_eq!(limits, Limits::default());
        for settings in [
            Settings {
                max_connections: Some(0),
                ..Settings::default()
            },
            Settings {
                max_streams_per_connection: Some(0),
                ..Settings::default()
            },
            Settings {
                max_calls_in_flight: Some(0),
                ..Settings::default()
            },
            Settings {
                max_request_bytes: Some(10),
                ..Settings::default()
            },
            Settings {
                idle_timeout: Some(Duration::ZERO),
                ..Settings::default()
            },
        ] {
            assert!(settings.limits(Duration::from_secs(10)).is_err());
        }
        let no_anonymous_streams = Settings {
            max_anonymous_watch_streams: Some(0),
            ..Settings::default()
        };
        assert_eq!(
            no_anonymous_streams
                .limits(Duration::from_secs(10))
                .unwrap()
                .max_anonymous_watch_streams,
            0
        );
    }
}
