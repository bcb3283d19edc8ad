//! Hostile tokens: every class of token an attacker or a confused client
//! sends, each with the answer inkan must give. The cases are data, built
//! from a key set, so the same list runs against the Verify RPC, against the
//! local verifier (the function a consumer library calls), and seeds the
//! fuzzer's corpus.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use inkan::keys::{rotation, KeyAlgorithm, KeyFileEntry, KeySet, KeySetFile, KeyState};
use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// The issuer the hostile cases are built for.
pub(crate) const ISSUER: &str = "https://inkan.test";
/// The legacy secret in a hostile key set.
pub(crate) const LEGACY_SECRET: &[u8] = b"the-former-monoliths-hs256-secret-0123456789";

/// What the verifier must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Accepted: a control that shows where the edge lies.
    Accepted,
    /// Refused with this contract reason.
    Refused(&'static str),
}

/// One hostile token.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) class: &'static str,
    pub(crate) name: String,
    pub(crate) token: String,
    pub(crate) expect: Expect,
    /// Sits exactly on a time edge, so only a verifier given the forge's
    /// own `now` can judge it; a call over the network takes a moment.
    pub(crate) exact_time: bool,
}

/// A key set with one key of every kind, and the means to forge with it.
pub(crate) struct Forge {
    pub(crate) file: KeySetFile,
    pub(crate) set: KeySet,
    pub(crate) session: String,
    /// The time every case is built around, in Unix seconds.
    pub(crate) now: i64,
}

fn pem(entry: &KeyFileEntry) -> String {
    entry
        .private_key_pem
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Forge {
    /// EdDSA (active), ES256 and RS256 (verify_only), and a legacy HS256 key.
    pub(crate) fn new() -> Self {
        let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        for alg in [KeyAlgorithm::ES256, KeyAlgorithm::RS256] {
            file.keys
                .push(KeyFileEntry::generate(alg, KeyState::VerifyOnly).unwrap());
        }
        let sunset = SystemTime::now() + Duration::from_secs(86_400);
        rotation::add_legacy(&mut file, "monolith", LEGACY_SECRET, sunset, None, None).unwrap();
        Self::from_file(file)
    }

    /// Forges with an existing key set (which must hold the same kinds).
    pub(crate) fn from_file(file: KeySetFile) -> Self {
        let set = KeySet::from_file_contents(&file).unwrap();
        Self {
            file,
            set,
            session: "6c3b7a4e-59f1-4a56-9e1d-2f8c0f7a9b10".into(),
            now: inkan::clock::now(),
        }
    }

    fn entry(&self, alg: KeyAlgorithm) -> &KeyFileEntry {
        self.file
            .keys
            .iter()
            .find(|k| k.alg == alg && !k.legacy)
            .unwrap()
    }

    fn kid(&self, alg: KeyAlgorithm) -> String {
        self.entry(alg).kid.clone()
    }

    fn encoding(&self, alg: KeyAlgorithm) -> EncodingKey {
        if alg == KeyAlgorithm::HS256 {
            return EncodingKey::from_secret(LEGACY_SECRET);
        }
        let pem = pem(self.entry(alg));
        match alg {
            KeyAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            KeyAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            KeyAlgorithm::HS256 => EncodingKey::from_secret(LEGACY_SECRET),
        }
    }

    /// Claims of a token inkan would accept, at the current time.
    pub(crate) fn claims(&self) -> Value {
        let now = self.now;
        json!({
            "iss": ISSUER, "sub": "user-42", "aud": "orders",
            "exp": now + 600, "iat": now, "nbf": now,
            "jti": "0b1e8e62-3b84-4b8a-9d0e-7a4f1c2d3e4f", "sid": self.session,
            "client_id": "web", "scope": "orders:read",
        })
    }

    fn header(&self, alg: KeyAlgorithm) -> Value {
        json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": self.kid(alg)})
    }

    /// `header.payload.signature`, signing exactly the given JSON texts.
    pub(crate) fn sign_raw(
        &self,
        header: &str,
        payload: &str,
        alg: Algorithm,
        key: &EncodingKey,
    ) -> String {
        let message = format!("{}.{}", b64(header), b64(payload));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
        format!("{message}.{signature}")
    }

    fn sign(&self, header: &Value, claims: &Value, alg: KeyAlgorithm) -> String {
        self.sign_raw(
            &header.to_string(),
            &claims.to_string(),
            alg.jws(),
            &self.encoding(alg),
        )
    }

    /// A token inkan would accept, signed by the key of `alg`.
    pub(crate) fn good(&self, alg: KeyAlgorithm) -> String {
        self.sign(&self.header(alg), &self.claims(), alg)
    }

    /// The public key of `alg` in every encoding it exists in: PEM, DER,
    /// JWK JSON, raw bytes.
    fn public_encodings(&self, alg: KeyAlgorithm) -> Vec<(&'static str, Vec<u8>)> {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let pem = pem(self.entry(alg));
        let (spki_pem, spki_der, raw) = match alg {
            KeyAlgorithm::EdDSA => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
                    .unwrap()
                    .verifying_key();
                (
                    key.to_public_key_pem(LineEnding::LF).unwrap(),
                    key.to_public_key_der().unwrap().into_vec(),
                    key.to_bytes().to_vec(),
                )
            }
            KeyAlgorithm::ES256 => {
                let key = p256::SecretKey::from_pkcs8_pem(&pem).unwrap().public_key();
                (
                    key.to_public_key_pem(LineEnding::LF).unwrap(),
                    key.to_public_key_der().unwrap().into_vec(),
                    key.to_sec1_bytes().to_vec(),
                )
            }
            _ => {
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
                    .unwrap()
                    .to_public_key();
                let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&key).unwrap();
                (
                    key.to_public_key_pem(LineEnding::LF).unwrap(),
                    key.to_public_key_der().unwrap().into_vec(),
                    pkcs1.as_bytes().to_vec(),
                )
            }
        };
        let kid = self.kid(alg);
        let jwk = self
            .set
            .jwks()
            .find(&kid)
            .map(|j| serde_json::to_vec(j).unwrap())
            .unwrap();
        vec![
            ("PEM", spki_pem.into_bytes()),
            ("DER", spki_der),
            ("JWK", jwk),
            ("raw", raw),
        ]
    }
}

impl Default for Forge {
    fn default() -> Self {
        Self::new()
    }
}

/// Every hostile case, class by class. The class names and counts are
/// listed in SECURITY.md, and a test keeps the two in step.
pub(crate) fn cases(f: &Forge) -> Vec<Case> {
    let mut all = Vec::new();
    let mut add = |class: &'static str, name: &str, token: String, expect: Expect| {
        all.push(Case {
            class,
            name: name.to_owned(),
            token,
            expect,
            exact_time: name.starts_with("at the edge: "),
        });
    };
    use Expect::{Accepted, Refused};
    use KeyAlgorithm::{EdDSA, ES256, HS256, RS256};

    let claims = f.claims();
    let payload = claims.to_string();
    let ed = f.kid(EdDSA);
    let now = f.now;
    let good = f.good(EdDSA);
    let (good_h, good_p, good_s) = {
        let p: Vec<&str> = good.split('.').collect();
        (p[0].to_owned(), p[1].to_owned(), p[2].to_owned())
    };

    // Controls: what must pass, for every key kind.
    for alg in [EdDSA, ES256, RS256] {
        add(
            "controls",
            &format!("a good {alg} token"),
            f.good(alg),
            Accepted,
        );
    }

    // alg none in every casing, and signatures stripped or empty.
    for casing in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": casing, "typ": "at+jwt", "kid": ed}).to_string();
        add(
            "alg none",
            &format!("alg {casing:?}"),
            format!("{}.{}.", b64(header), b64(&payload)),
            Refused("TOKEN_MALFORMED"),
        );
    }
    let header = json!({"alg": "none", "typ": "at+jwt"}).to_string();
    add(
        "alg none",
        "alg none without kid",
        format!("{}.{}.", b64(header), b64(&payload)),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "alg none",
        "empty signature",
        format!("{good_h}.{good_p}."),
        Refused("SIGNATURE_INVALID"),
    );
    add(
        "alg none",
        "signature stripped",
        format!("{good_h}.{good_p}"),
        Refused("TOKEN_MALFORMED"),
    );

    // Algorithm confusion: HS256 "signed" with a public key as the secret.
    for alg in [EdDSA, ES256, RS256] {
        for (encoding, bytes) in f.public_encodings(alg) {
            let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": f.kid(alg)}).to_string();
            let token = f.sign_raw(
                &header,
                &payload,
                Algorithm::HS256,
                &EncodingKey::from_secret(&bytes),
            );
            add(
                "algorithm confusion",
                &format!("HS256 keyed with the {alg} public key as {encoding}"),
                token,
                Refused("ALGORITHM_MISMATCH"),
            );
        }
    }
    let token = f.sign(
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": ed}),
        &claims,
        ES256,
    );
    add(
        "algorithm confusion",
        "ES256 under the EdDSA key's kid",
        token,
        Refused("ALGORITHM_MISMATCH"),
    );
    let token = f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt"}), &claims, EdDSA);
    add(
        "algorithm confusion",
        "asymmetric alg on the legacy (no-kid) path",
        token,
        Refused("ALGORITHM_MISMATCH"),
    );
    let token = f.sign(
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": "monolith"}),
        &claims,
        HS256,
    );
    add(
        "algorithm confusion",
        "legacy HS key named by kid",
        token,
        Refused("KEY_UNKNOWN"),
    );

    // kid: missing, unknown, path-like, SQL-like, huge, not a string.
    let with_kid = |kid: Value| {
        f.sign(
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}),
            &claims,
            EdDSA,
        )
    };
    for (name, kid) in [
        ("unknown kid", json!("no-such-key")),
        ("path-like kid", json!("../../../../etc/passwd")),
        ("device-file kid", json!("/dev/zero")),
        ("SQL-like kid", json!("' OR '1'='1' --")),
        ("NUL in kid", json!("key\u{0}")),
        ("huge kid", json!("k".repeat(4000))),
    ] {
        add("kid", name, with_kid(kid), Refused("KEY_UNKNOWN"));
    }
    for (name, kid) in [
        ("numeric kid", json!(1)),
        ("object kid", json!({"kid": ed})),
        ("array kid", json!([ed])),
    ] {
        add("kid", name, with_kid(kid), Refused("TOKEN_MALFORMED"));
    }
    add(
        "kid",
        "null kid (no kid: legacy path)",
        with_kid(Value::Null),
        Refused("ALGORITHM_MISMATCH"),
    );

    // Embedded keys and key URLs: the attacker's key travels in the header.
    let attacker = Forge::attacker();
    let attacker_jwk = serde_json::to_value(attacker.set.jwks().keys[0].clone()).unwrap();
    let attacker_key = attacker.encoding(EdDSA);
    let embed = |extra: Value| {
        let mut header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ed});
        for (k, v) in extra.as_object().unwrap() {
            header[k] = v.clone();
        }
        f.sign_raw(
            &header.to_string(),
            &payload,
            Algorithm::EdDSA,
            &attacker_key,
        )
    };
    add(
        "embedded keys",
        "jwk header, our kid",
        embed(json!({"jwk": attacker_jwk})),
        Refused("SIGNATURE_INVALID"),
    );
    let own_kid = attacker.kid(EdDSA);
    add(
        "embedded keys",
        "jwk header, its own kid",
        embed(json!({"jwk": attacker_jwk, "kid": own_kid})),
        Refused("KEY_UNKNOWN"),
    );
    add(
        "embedded keys",
        "jku header",
        embed(json!({"jku": "http://127.0.0.1:9/jwks.json"})),
        Refused("SIGNATURE_INVALID"),
    );
    add(
        "embedded keys",
        "x5u header",
        embed(json!({"x5u": "http://127.0.0.1:9/cert.pem"})),
        Refused("SIGNATURE_INVALID"),
    );
    add(
        "embedded keys",
        "x5c header",
        embed(json!({"x5c": [STANDARD.encode(b"not a certificate")]})),
        Refused("SIGNATURE_INVALID"),
    );

    // crit: inkan supports no extension.
    for (name, crit) in [
        ("crit naming an unknown extension", json!(["exp"])),
        ("empty crit", json!([])),
        ("crit b64", json!(["b64"])),
    ] {
        let token = f.sign(
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ed, "crit": crit, "b64": true}),
            &claims,
            EdDSA,
        );
        add("crit", name, token, Refused("TOKEN_MALFORMED"));
    }

    // Token type: inkan's own key, but not an access token.
    let typed = |typ: Option<&str>, claims: &Value| {
        let mut header = json!({"alg": "EdDSA", "kid": ed});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        f.sign(&header, claims, EdDSA)
    };
    let mut id_token = claims.clone();
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    id_token["azp"] = json!("web");
    add(
        "token type",
        "ID-token-shaped (typ JWT)",
        typed(Some("JWT"), &id_token),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "token type",
        "typ missing",
        typed(None, &claims),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "token type",
        "refresh-shaped (typ refresh+jwt)",
        typed(Some("refresh+jwt"), &claims),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "token type",
        "typ with trailing space",
        typed(Some("at+jwt "), &claims),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "token type",
        "case-insensitive typ (allowed)",
        typed(Some("AT+JWT"), &claims),
        Accepted,
    );
    add(
        "token type",
        "an opaque refresh token",
        inkan::token::RefreshToken::generate().expose().to_owned(),
        Refused("TOKEN_TYPE_INVALID"),
    );

    // A former system's tokens, on the no-kid legacy path: its refresh and ID
    // tokens are JWTs under the same secret, and must not pass as access
    // tokens. The monolith key takes no token without iat.
    let legacy_claims =
        json!({"sub": "user-42", "iat": now, "exp": now + 600, "scope": "orders:read admin"});
    let legacy = |typ: Option<&str>, changes: Value, remove: &[&str]| {
        let mut header = json!({"alg": "HS256"});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        let mut c = legacy_claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        for r in remove {
            c.as_object_mut().unwrap().remove(*r);
        }
        f.sign(&header, &c, HS256)
    };
    add(
        "legacy",
        "a good legacy access token (typ JWT)",
        legacy(Some("JWT"), json!({}), &[]),
        Accepted,
    );
    add(
        "legacy",
        "the former system's own jti, sid and client_id formats (never an inkan session)",
        legacy(
            Some("JWT"),
            json!({"jti": "legacy-1", "sid": 4711, "client_id": "php app/1"}),
            &[],
        ),
        Accepted,
    );
    add(
        "legacy",
        "a legacy token saying token_use access, no typ",
        legacy(None, json!({"token_use": "access"}), &[]),
        Accepted,
    );
    add(
        "legacy",
        "a refresh JWT: typ refresh+jwt, token_use refresh, exp in 23 h, no iat",
        legacy(
            Some("refresh+jwt"),
            json!({"token_use": "refresh", "exp": now + 23 * 3600}),
            &["iat"],
        ),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "legacy",
        "typ header refresh+jwt",
        legacy(Some("refresh+jwt"), json!({}), &[]),
        Refused("TOKEN_TYPE_INVALID"),
    );
    for (name, claim, value) in [
        ("token_use refresh", "token_use", json!("refresh")),
        (
            "token_type refresh_token",
            "token_type",
            json!("refresh_token"),
        ),
        (
            "typ claim Refresh (Keycloak-style)",
            "typ",
            json!("Refresh"),
        ),
        ("typ claim ID (an ID token)", "typ", json!("ID")),
        ("type claim refresh", "type", json!("refresh")),
        ("token_use not a string", "token_use", json!(1)),
    ] {
        add(
            "legacy",
            name,
            legacy(Some("JWT"), json!({ claim: value }), &[]),
            Refused("TOKEN_TYPE_INVALID"),
        );
    }
    add(
        "legacy",
        "no iat, 10 minutes left (its key takes none)",
        legacy(Some("JWT"), json!({}), &["iat"]),
        Refused("TOKEN_TYPE_INVALID"),
    );
    add(
        "legacy",
        "lives 25 h from its iat",
        legacy(Some("JWT"), json!({"exp": now + 25 * 3600}), &[]),
        Refused("TOKEN_TYPE_INVALID"),
    );

    // Claims: missing, at the edges, of the wrong type, ambiguous.
    let edit = |changes: Value, remove: &[&str]| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        for r in remove {
            c.as_object_mut().unwrap().remove(*r);
        }
        f.sign(&f.header(EdDSA), &c, EdDSA)
    };
    for missing in ["exp", "sub", "jti", "iat", "sid", "client_id", "aud"] {
        add(
            "claims",
            &format!("{missing} missing"),
            edit(json!({}), &[missing]),
            Refused("TOKEN_MALFORMED"),
        );
    }
    add(
        "claims",
        "iss missing",
        edit(json!({}), &["iss"]),
        Refused("ISSUER_MISMATCH"),
    );
    add(
        "claims",
        "at the edge: exp 29 s ago (inside the 30 s leeway)",
        edit(json!({"exp": now - 29}), &[]),
        Accepted,
    );
    add(
        "claims",
        "at the edge: exp 30 s ago (the leeway's end)",
        edit(json!({"exp": now - 30}), &[]),
        Refused("TOKEN_EXPIRED"),
    );
    add(
        "claims",
        "at the edge: exp 31 s ago",
        edit(json!({"exp": now - 31}), &[]),
        Refused("TOKEN_EXPIRED"),
    );
    add(
        "claims",
        "at the edge: nbf 29 s ahead",
        edit(json!({"nbf": now + 29}), &[]),
        Accepted,
    );
    add(
        "claims",
        "at the edge: nbf 31 s ahead",
        edit(json!({"nbf": now + 31}), &[]),
        Refused("TOKEN_NOT_YET_VALID"),
    );
    add(
        "claims",
        "at the edge: iat 31 s ahead",
        edit(json!({"iat": now + 31}), &[]),
        Refused("TOKEN_NOT_YET_VALID"),
    );
    // The same edges with room to spare, for verifiers a call away.
    add(
        "claims",
        "exp 20 s ago",
        edit(json!({"exp": now - 20}), &[]),
        Accepted,
    );
    add(
        "claims",
        "exp 40 s ago",
        edit(json!({"exp": now - 40}), &[]),
        Refused("TOKEN_EXPIRED"),
    );
    add(
        "claims",
        "nbf 20 s ahead",
        edit(json!({"nbf": now + 20}), &[]),
        Accepted,
    );
    add(
        "claims",
        "nbf 40 s ahead",
        edit(json!({"nbf": now + 40}), &[]),
        Refused("TOKEN_NOT_YET_VALID"),
    );
    add(
        "claims",
        "iat 40 s ahead",
        edit(json!({"iat": now + 40}), &[]),
        Refused("TOKEN_NOT_YET_VALID"),
    );
    add(
        "claims",
        "exp as a string",
        edit(json!({"exp": (now + 600).to_string()}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "exp as a float",
        edit(json!({"exp": (now + 600) as f64 + 0.5}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "exp negative",
        edit(json!({"exp": -1}), &[]),
        Refused("TOKEN_EXPIRED"),
    );
    add(
        "claims",
        "exp beyond i64",
        edit(json!({"exp": 9_223_372_036_854_775_808_u64}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "exp 1e30",
        edit(json!({"exp": 1e30}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "nbf as a string",
        edit(json!({"nbf": "0"}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "aud as an array",
        edit(json!({"aud": ["orders", "billing"]}), &[]),
        Accepted,
    );
    add(
        "claims",
        "aud as an empty array",
        edit(json!({"aud": []}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "aud as a number",
        edit(json!({"aud": 42}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "iss with a trailing slash",
        edit(json!({"iss": format!("{ISSUER}/")}), &[]),
        Refused("ISSUER_MISMATCH"),
    );
    add(
        "claims",
        "iss in another case",
        edit(json!({"iss": ISSUER.to_uppercase()}), &[]),
        Refused("ISSUER_MISMATCH"),
    );
    add(
        "claims",
        "sub not a string",
        edit(json!({"sub": 42}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "sub empty",
        edit(json!({"sub": ""}), &[]),
        Refused("TOKEN_MALFORMED"),
    );
    let ed_key = f.encoding(EdDSA);
    let header = f.header(EdDSA).to_string();
    let duplicate = payload.replacen("{", "{\"sub\":\"admin\",", 1);
    add(
        "claims",
        "duplicate sub",
        f.sign_raw(&header, &duplicate, Algorithm::EdDSA, &ed_key),
        Refused("TOKEN_MALFORMED"),
    );
    let dup_header = header.replacen("{", "{\"kid\":\"no-such-key\",", 1);
    add(
        "claims",
        "duplicate kid in the header",
        f.sign_raw(&dup_header, &payload, Algorithm::EdDSA, &ed_key),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "payload is an array",
        f.sign_raw(&header, "[1,2]", Algorithm::EdDSA, &ed_key),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "claims",
        "payload is a string",
        f.sign_raw(&header, "\"sub\"", Algorithm::EdDSA, &ed_key),
        Refused("TOKEN_MALFORMED"),
    );
    let invalid_utf8 = {
        let message = format!(
            "{}.{}",
            b64(&header),
            b64([b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'])
        );
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &ed_key, Algorithm::EdDSA).unwrap();
        format!("{message}.{sig}")
    };
    add(
        "claims",
        "payload not UTF-8",
        invalid_utf8,
        Refused("TOKEN_MALFORMED"),
    );

    // Encoding: segments, alphabets, padding, whitespace, trailing bits.
    let resign = |h: &str, p: &str| {
        let message = format!("{h}.{p}");
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &ed_key, Algorithm::EdDSA).unwrap();
        format!("{message}.{sig}")
    };
    add(
        "encoding",
        "two segments",
        format!("{good_h}.{good_p}"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "four segments",
        format!("{good}.{good_s}"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "five segments (JWE-shaped)",
        format!("{good_h}.{good_p}.{good_s}.{good_s}.{good_s}"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "empty segments",
        "..".into(),
        Refused("TOKEN_MALFORMED"),
    );
    let std_payload = STANDARD.encode(&payload).trim_end_matches('=').to_owned();
    if std_payload != good_p {
        add(
            "encoding",
            "standard-base64 alphabet",
            resign(&good_h, &std_payload),
            Refused("TOKEN_MALFORMED"),
        );
    } else {
        add(
            "encoding",
            "standard-base64 alphabet",
            resign(&good_h, &format!("{good_p}+/")),
            Refused("TOKEN_MALFORMED"),
        );
    }
    add(
        "encoding",
        "padding on the payload",
        resign(&good_h, &format!("{good_p}==")),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "padding on the signature",
        format!("{good}=="),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "space inside the payload",
        resign(&good_h, &format!("{} {}", &good_p[..10], &good_p[10..])),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "leading space",
        format!(" {good}"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "trailing newline",
        format!("{good}\n"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "a Bearer prefix",
        format!("Bearer {good}"),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "encoding",
        "a doubled Bearer prefix",
        format!("Bearer Bearer {good}"),
        Refused("TOKEN_MALFORMED"),
    );
    let non_canonical = {
        // An Ed25519 signature is 86 characters: the last carries 4 unused
        // bits. Setting one gives the same bytes to a lenient decoder.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = *good_s.as_bytes().last().unwrap();
        let index = alphabet.iter().position(|c| *c == last).unwrap();
        let flipped = alphabet[index ^ 1] as char;
        format!("{good_h}.{good_p}.{}{flipped}", &good_s[..good_s.len() - 1])
    };
    add(
        "encoding",
        "non-canonical trailing bits in the signature",
        non_canonical,
        Refused("TOKEN_MALFORMED"),
    );

    // ECDSA signatures that must never verify.
    let es_header = f.header(ES256).to_string();
    let es_message = format!("{}.{}", b64(&es_header), b64(&payload));
    let n = hex_bytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let es_good =
        jsonwebtoken::crypto::sign(es_message.as_bytes(), &f.encoding(ES256), Algorithm::ES256)
            .unwrap();
    let es_raw = URL_SAFE_NO_PAD.decode(&es_good).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&es_raw)
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec();
    for (name, sig) in [
        ("r = s = 0", vec![0u8; 64]),
        ("r = s = n", [n.clone(), n.clone()].concat()),
        ("DER-encoded instead of raw r||s", der),
        ("63 bytes", es_raw[..63].to_vec()),
        ("65 bytes", [es_raw.clone(), vec![0]].concat()),
        ("empty", Vec::new()),
    ] {
        add(
            "ECDSA signatures",
            name,
            format!("{es_message}.{}", b64(sig)),
            Refused("SIGNATURE_INVALID"),
        );
    }
    add(
        "controls",
        "a good ES256 signature in raw r||s",
        format!("{es_message}.{es_good}"),
        Accepted,
    );

    // Oversized: refused before any decoding.
    let huge = |len: usize| format!("{good_h}.{}.{good_s}", "A".repeat(len));
    add(
        "oversized",
        "8 KiB + 1",
        huge(8 * 1024 + 1 - good_h.len() - good_s.len() - 2),
        Refused("TOKEN_MALFORMED"),
    );
    add(
        "oversized",
        "60 KiB",
        huge(60 * 1024),
        Refused("TOKEN_MALFORMED"),
    );

    all
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

impl Forge {
    /// Someone else's EdDSA key.
    pub(crate) fn attacker() -> Self {
        Self::from_file(KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap())
    }
}
