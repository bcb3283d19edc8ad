//! The refusals and defaults of [`Settings::validate`] and
//! [`Settings::validate_dev`], each named by the setting it concerns.

use std::path::PathBuf;

use super::*;
use crate::callers::CallerConfig;

fn production() -> Settings {
    Settings {
        keys_file: Some("keys.json".into()),
        database_url: Some(SecretString::from("postgres://db/inkan")),
        issuer: Some("https://auth.example.com".into()),
        allow_open_issue: true,
        ..Settings::default()
    }
}

fn refusal(settings: Settings) -> String {
    settings.validate().unwrap_err().to_string()
}

#[test]
fn production_needs_keys_database_and_issuer_and_names_each() {
    assert!(production().validate().is_ok());
    let msg = refusal(Settings {
        keys_file: None,
        ..production()
    });
    assert!(msg.contains("INKAN_KEYS_FILE"), "{msg}");
    let msg = refusal(Settings {
        database_url: None,
        ..production()
    });
    assert!(msg.contains("INKAN_DATABASE_URL"), "{msg}");
    let msg = refusal(Settings {
        issuer: None,
        ..production()
    });
    assert!(msg.contains("INKAN_ISSUER"), "{msg}");
}

#[test]
fn issue_is_never_open_by_accident() {
    let msg = refusal(Settings {
        allow_open_issue: false,
        ..production()
    });
    assert!(msg.contains("issue permission"), "{msg}");
}

#[test]
fn dev_mode_fills_in_local_defaults_but_no_key_file() {
    let config = Settings::default().validate_dev().unwrap();
    assert_eq!(config.keys, KeySource::Ephemeral);
    assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:50051");
    assert_eq!(config.policy.issuer, "http://127.0.0.1:8080");
    assert!(config.migrate_on_start);
}

#[test]
fn dev_mode_takes_nothing_that_could_make_it_a_production_server() {
    let dev_refusal = |settings: Settings| settings.validate_dev().unwrap_err().to_string();
    let with_caller = Settings {
        callers: vec![CallerConfig {
            name: "login".into(),
            api_key_sha256: Some("ab".repeat(32)),
            permissions: vec![Permission::Issue],
            ..CallerConfig::default()
        }],
        ..Settings::default()
    };
    assert!(dev_refusal(with_caller).contains("[[callers]]"));
    let msg = dev_refusal(Settings {
        database_url: Some(SecretString::from("postgres://db/inkan")),
        ..Settings::default()
    });
    assert!(msg.contains("database_url"), "{msg}");
    let msg = dev_refusal(Settings {
        grpc_addr: Some("0.0.0.0:50051".parse().unwrap()),
        ..Settings::default()
    });
    assert!(msg.contains("grpc_addr is 0.0.0.0:50051"), "{msg}");
    let msg = dev_refusal(Settings {
        http_addr: Some("10.0.0.1:8080".parse().unwrap()),
        ..Settings::default()
    });
    assert!(msg.contains("http_addr is 10.0.0.1:8080"), "{msg}");
    let local = Settings {
        keys_file: Some("keys.json".into()),
        grpc_addr: Some("[::1]:0".parse().unwrap()),
        ..Settings::default()
    };
    assert!(
        local.validate_dev().is_ok(),
        "a key file and loopback are fine"
    );
}

#[test]
fn the_verify_cache_is_on_unless_set_to_zero() {
    let config = production().validate().unwrap();
    assert_eq!(config.verify_cache_bytes, crate::token::VERIFY_CACHE_BYTES);
    let off = Settings {
        verify_cache_bytes: Some(0),
        ..production()
    }
    .validate()
    .unwrap();
    assert_eq!(off.verify_cache_bytes, 0);
}

#[test]
fn ended_sessions_outlive_their_access_tokens() {
    let msg = refusal(Settings {
        purge_retention: Some(Duration::from_secs(60)),
        ..production()
    });
    assert!(msg.contains("purge_retention"), "{msg}");
    let config = Settings {
        purge_retention: Some(Duration::from_secs(2)),
        access_token_ttl: Some(Duration::from_secs(1)),
        leeway: Some(Duration::from_secs(1)),
        ..production()
    }
    .validate()
    .unwrap();
    assert_eq!(config.purge_retention, Duration::from_secs(2));
}

#[test]
fn durations_must_be_positive() {
    let msg = refusal(Settings {
        access_token_ttl: Some(Duration::ZERO),
        ..production()
    });
    assert_eq!(msg, "access_token_ttl must be longer than zero");
}

#[test]
fn the_database_url_can_come_from_a_file_never_quoted() {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "postgres://inkan:hunter2@db/inkan\n").unwrap();
    let config = Settings {
        database_url: None,
        database_url_file: Some(file.clone()),
        ..production()
    }
    .validate()
    .unwrap();
    assert_eq!(
        config.database_url.expose_secret(),
        "postgres://inkan:hunter2@db/inkan"
    );
    let msg = refusal(Settings {
        database_url_file: Some(file.clone()),
        ..production()
    });
    assert!(msg.contains("set only one"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let missing = dir.path().join("absent");
    let msg = refusal(Settings {
        database_url: None,
        database_url_file: Some(missing.clone()),
        ..production()
    });
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    std::fs::write(&file, "  \n").unwrap();
    let msg = refusal(Settings {
        database_url: None,
        database_url_file: Some(file),
        ..production()
    });
    assert!(msg.contains("is empty"), "{msg}");
}

#[test]
fn certificate_callers_need_a_client_ca() {
    let tls = |client_ca_file: Option<PathBuf>| TlsSettings {
        cert_file: "tls.crt".into(),
        key_file: "tls.key".into(),
        client_ca_file,
        client_certificates: None,
        reload_interval: None,
    };
    let orders = CallerConfig {
        name: "orders".into(),
        certificate_san: Some("spiffe://cluster/ns/orders/sa/api".into()),
        permissions: vec![Permission::Issue],
        ..CallerConfig::default()
    };
    let msg = refusal(Settings {
        tls: Some(tls(None)),
        callers: vec![orders.clone()],
        ..production()
    });
    assert!(msg.contains("client_ca_file"), "{msg}");
    let config = Settings {
        tls: Some(tls(Some("ca.crt".into()))),
        callers: vec![orders],
        ..production()
    }
    .validate()
    .unwrap();
    let tls = config.tls.unwrap();
    assert_eq!(
        tls.client_certificates,
        Some(crate::tls::ClientCertificates::Optional)
    );
    assert_eq!(tls.reload_interval, Duration::from_secs(10));
}

#[test]
fn restricting_verify_needs_a_caller_that_may_verify() {
    let msg = refusal(Settings {
        verify_requires_permission: true,
        ..production()
    });
    assert!(msg.contains("verify permission"), "{msg}");
}

/// The defaults the README's settings table promises, spelled out apart
/// from `defaults.rs` so a changed constant is a visible decision.
#[test]
fn unset_settings_take_the_documented_defaults() {
    let config = production().validate().unwrap();
    let policy = &config.policy;
    assert_eq!(config.grpc_addr.to_string(), "0.0.0.0:50051");
    assert_eq!(config.http_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(config.metrics_addr.to_string(), "127.0.0.1:9090");
    assert_eq!(policy.access_token_ttl, Duration::from_secs(15 * 60));
    assert_eq!(
        policy.refresh_token_idle_ttl,
        Duration::from_secs(14 * 86_400)
    );
    assert_eq!(policy.session_lifetime, Duration::from_secs(90 * 86_400));
    assert_eq!(policy.leeway, Duration::from_secs(30));
    assert_eq!(policy.reuse_grace, Duration::from_secs(5));
    assert_eq!(config.purge_retention, Duration::from_secs(86_400));
    assert_eq!(config.drain_period, Duration::from_secs(5));
    assert_eq!(config.shutdown_timeout, Duration::from_secs(20));
    assert_eq!(config.http_header_timeout, Duration::from_secs(10));
    assert_eq!(config.key_reload_interval, Duration::from_secs(2));
    assert!(config.reflection);
    assert!(!config.migrate_on_start);
    assert_eq!(config.log_format, LogFormat::Json);
    let dev = Settings::default().validate_dev().unwrap();
    assert_eq!(dev.drain_period, Duration::ZERO);
    assert_eq!(dev.metrics_addr.to_string(), "127.0.0.1:9090");
    assert_eq!(dev.log_format, LogFormat::Pretty);
}

#[test]
fn a_public_jwks_url_is_an_http_url_and_unset_by_default() {
    assert_eq!(production().validate().unwrap().public_jwks_url, None);
    let config = Settings {
        public_jwks_url: Some("https://keys.example.com/.well-known/jwks.json".into()),
        ..production()
    }
    .validate()
    .unwrap();
    assert_eq!(
        config.public_jwks_url.as_deref(),
        Some("https://keys.example.com/.well-known/jwks.json")
    );
    for url in ["keys.example.com/jwks", "https://", "https://a b/jwks"] {
        let msg = refusal(Settings {
            public_jwks_url: Some(url.into()),
            ..production()
        });
        assert!(msg.starts_with("public_jwks_url "), "{url}: {msg}");
    }
}
