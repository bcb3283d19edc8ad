//! `inkan token inspect`: decode a token and explain, in one line, why the
//! configured keys accept or reject it. Nothing here trusts the token: the
//! decoded parts are shown as data, and the verdict comes from the same
//! verification code the server runs.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::Value;

use crate::{
    clock::now,
    config::Settings,
    keys::KeySet,
    token::{verify_access_token, Expectations, MAX_TOKEN_BYTES},
};

fn part(token: &str, index: usize) -> Option<Value> {
    let segment = token.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

pub(super) fn run(token: &str, settings: Settings) -> Result<(), String> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err("the token is larger than 8 KiB; inkan would not look at it".into());
    }
    let header = part(token, 0).ok_or("the token's header is not base64url JSON")?;
    let claims = part(token, 1).ok_or("the token's payload is not base64url JSON")?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    println!("header: {}", pretty(&header));
    println!("claims: {}", pretty(&claims));

    let Some(path) = settings.keys_file else {
        return Err("no key set to check against: pass --keys FILE or set INKAN_KEYS_FILE".into());
    };
    let keys = KeySet::load(&path).map_err(|e| e.to_string())?;
    let issuer = match (&settings.issuer, claims.get("iss").and_then(Value::as_str)) {
        (Some(issuer), _) => issuer.clone(),
        (None, Some(iss)) => {
            println!("note: no issuer configured; checking against the token's own iss");
            iss.to_owned()
        }
        (None, None) => String::new(),
    };
    let expect = Expectations {
        issuer: &issuer,
        audience: None,
        required_scopes: &[],
        leeway: settings
            .leeway
            .unwrap_or(std::time::Duration::from_secs(30)),
        now: now(),
        allow_expired: false,
        revocations: None,
    };
    match verify_access_token(token, &keys.verifying_keys(), &expect) {
        Ok(verified) => {
            let how = if verified.legacy { "legacy key" } else { "key" };
            println!(
                "accepted: signed with {how} {}, subject {:?}, expires in {} s",
                verified.key_id,
                verified.subject.as_str(),
                verified.expires_at - now()
            );
            Ok(())
        }
        Err(err) => Err(format!("rejected ({}): {err}", err.reason())),
    }
}
