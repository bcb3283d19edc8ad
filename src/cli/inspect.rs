//! `inkan token inspect`: decode a token and explain, in one line, why the
//! configured keys accept or reject it. Nothing here trusts the token: the
//! decoded parts are shown as data, and the verdict comes from the same
//! verification code the server runs. The token is read from standard
//! input unless given as an argument, since an argument is visible in shell
//! history and `ps`; it is never printed back.

use std::io::{IsTerminal, Read};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};

use super::flags::{print_json, Output};
use crate::{
    clock::now,
    config::Settings,
    token::{verify_access_token, Expectations, MAX_TOKEN_BYTES},
};

fn part(token: &str, index: usize) -> Option<Value> {
    let segment = token.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

/// The token to inspect: the argument, or standard input when the
/// argument is `-` or absent. An argument works, with a warning.
pub(super) fn read_token(argument: Option<String>) -> Result<String, String> {
    if let Some(token) = argument.filter(|t| t != "-") {
        eprintln!(
            "warning: a token on the command line is visible in shell history and `ps`; \
             send it on standard input instead (… | inkan token inspect -)"
        );
        return Ok(token);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("paste the token, then press Ctrl-D");
    }
    let mut token = String::new();
    // One byte more than a token may have, to tell "too large" apart.
    stdin
        .lock()
        .take(MAX_TOKEN_BYTES as u64 + 2)
        .read_to_string(&mut token)
        .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
    if token.trim().is_empty() {
        return Err("no token on standard input: pipe one in, or give it as an argument".into());
    }
    Ok(token)
}

pub(super) fn run(token: &str, settings: Settings, output: Output) -> Result<(), String> {
    let text = output == Output::Text;
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err("the token is larger than 8 KiB; inkan would not look at it".into());
    }
    let header = part(token, 0).ok_or("the token's header is not base64url JSON")?;
    let claims = part(token, 1).ok_or("the token's payload is not base64url JSON")?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    if text {
        println!("header: {}", pretty(&header));
        println!("claims: {}", pretty(&claims));
    }

    let Some(path) = settings.keys_file else {
        return Err("no key set to check against: pass --keys FILE or set INKAN_KEYS_FILE".into());
    };
    let keys = super::keys::load(&path)?;
    let token_issuer = claims.get("iss").and_then(Value::as_str);
    let (issuer, issuer_from_token) = match (&settings.issuer, token_issuer) {
        (Some(issuer), _) => (issuer.clone(), false),
        (None, Some(iss)) => {
            if text {
                println!("note: no issuer configured; checking against the token's own iss");
            }
            (iss.to_owned(), true)
        }
        (None, None) => (String::new(), false),
    };
    let expect = Expectations {
        issuer: &issuer,
        audience: None,
        required_scopes: &[],
        leeway: settings.leeway.unwrap_or(inkan_core::token::DEFAULT_LEEWAY),
        now: now(),
        allow_expired: false,
        revocations: None,
    };
    let verdict = verify_access_token(token, &keys.verifying_keys(), &expect);
    if !text {
        let verdict = match &verdict {
            Ok(verified) => json!({
                "accepted": true,
                "kid": verified.key_id.to_string(),
                "legacy": verified.legacy,
                "subject": verified.subject.as_str(),
                "expires_in": verified.expires_at - now(),
            }),
            Err(err) => json!({
                "accepted": false,
                "reason": err.reason().to_string(),
                "message": err.to_string(),
            }),
        };
        print_json(&json!({
            "header": header,
            "claims": claims,
            "issuer": issuer,
            "issuer_from_token": issuer_from_token,
            "verdict": verdict,
        }));
    }
    match verdict {
        Ok(verified) => {
            if text {
                let how = if verified.legacy { "legacy key" } else { "key" };
                println!(
                    "accepted: signed with {how} {}, subject {:?}, expires in {} s",
                    verified.key_id,
                    verified.subject.as_str(),
                    verified.expires_at - now()
                );
            }
            Ok(())
        }
        Err(err) => Err(format!("rejected ({}): {err}", err.reason())),
    }
}
