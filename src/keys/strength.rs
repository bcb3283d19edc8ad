//! Refusing weak material: RSA keys under 2048 bits, and HS256 secrets that
//! carry too little entropy for the alphabet they keep to, or are a
//! placeholder, a setting name (the outage inkan was born from signed with
//! the literal string "ACCESS_SECRET"), a repetition or a sequence.

use rsa::{pkcs8::DecodePrivateKey, traits::PublicKeyParts};

use super::KeySetError;

/// Strings that people put where a secret belongs. A secret made only of
/// repetitions of one of these (in any case) is refused.
const PLACEHOLDERS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "password",
    "placeholder",
    "default",
    "example",
    "test",
    "jwt",
    "jwt_secret",
    "jwt-secret",
    "access_secret",
    "refresh_secret",
    "secret_key",
    "your-secret",
    "your_secret",
    "yoursecret",
    "mysecret",
    "my-secret",
    "todo",
    "xxx",
    "0",
    "1",
    "a",
];

pub(super) fn check_rsa_size(kid: &str, pem: &[u8]) -> Result<(), KeySetError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeySetError::MaterialMismatch {
        kid: kid.into(),
        alg: "RS256",
    })?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(text)
        .or_else(|_| rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_pem(text))
        .map_err(|_| KeySetError::MaterialMismatch {
            kid: kid.into(),
            alg: "RS256",
        })?;
    let bits = key.size() * 8;
    if bits < 2048 {
        return Err(KeySetError::RsaTooShort {
            kid: kid.into(),
            bits,
        });
    }
    Ok(())
}

/// Fewest bits of estimated entropy a shared secret may carry: below this a
/// forger can search for it.
pub(super) const MIN_SECRET_BITS: f64 = 128.0;

/// Bits RFC 7518 asks of an HS256 key (the hash's size); a secret below it
/// is accepted with a warning naming the estimate.
pub(super) const RECOMMENDED_SECRET_BITS: f64 = 256.0;

/// What a secret looks like it was drawn from, judged by every symbol it
/// uses: a former system's secret is often the hex or base64 text of its
/// random bytes (`bin2hex(random_bytes(32))`), not the bytes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alphabet {
    /// `0-9a-f` (either case): 4 bits a symbol.
    Hex,
    /// Standard base64, with padding: 6 bits a symbol.
    Base64,
    /// Base64url: 6 bits a symbol.
    Base64Url,
    /// Any printable ASCII: about 6.6 bits a symbol.
    Printable,
    /// Raw bytes: 8 bits a byte.
    Bytes,
}

impl Alphabet {
    /// The alphabet `secret` keeps to, the narrowest that fits.
    pub(super) fn of(secret: &[u8]) -> Self {
        let all = |test: fn(&u8) -> bool| secret.iter().all(test);
        let unpadded = secret
            .iter()
            .rposition(|b| *b != b'=')
            .map_or(&secret[..0], |end| &secret[..=end]);
        if all(u8::is_ascii_hexdigit) {
            Alphabet::Hex
        } else if unpadded
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        {
            Alphabet::Base64
        } else if all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
            Alphabet::Base64Url
        } else if all(|b| (0x20..0x7f).contains(b)) {
            Alphabet::Printable
        } else {
            Alphabet::Bytes
        }
    }

    /// How many symbols the alphabet has.
    fn size(self) -> f64 {
        match self {
            Alphabet::Hex => 16.0,
            Alphabet::Base64 | Alphabet::Base64Url => 64.0,
            Alphabet::Printable => 95.0,
            Alphabet::Bytes => 256.0,
        }
    }

    /// The alphabet's name, as messages say it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Alphabet::Hex => "hex",
            Alphabet::Base64 => "base64",
            Alphabet::Base64Url => "base64url",
            Alphabet::Printable => "printable text",
            Alphabet::Bytes => "raw bytes",
        }
    }
}

/// A secret's estimated strength: what it was drawn from, and the bits of
/// entropy a random secret of its alphabet and length would carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Strength {
    pub(super) alphabet: Alphabet,
    pub(super) bits: f64,
}

impl Strength {
    /// The estimate for `secret` (padding does not count). A secret that is
    /// mostly a pattern is refused before its estimate matters (see
    /// `pattern`).
    pub(super) fn of(secret: &[u8]) -> Self {
        let alphabet = Alphabet::of(secret);
        let padding = match alphabet {
            Alphabet::Base64 => secret.iter().rev().take_while(|b| **b == b'=').count(),
            _ => 0,
        };
        let symbols = secret.len().saturating_sub(padding);
        Self {
            alphabet,
            bits: symbols as f64 * alphabet.size().log2(),
        }
    }

    /// A warning for a secret accepted below what RFC 7518 asks, naming the
    /// estimate.
    pub(super) fn warning(&self, kid: &str) -> Option<String> {
        (self.bits < RECOMMENDED_SECRET_BITS).then(|| {
            format!(
                "key {kid:?}: the HS256 secret ({}) carries about {:.0} bits of entropy, below the \
                 {RECOMMENDED_SECRET_BITS:.0} RFC 7518 asks for; accepted, but give the next secret \
                 32 random bytes",
                self.alphabet.name(),
                self.bits
            )
        })
    }
}

/// Why a secret is no secret, as the refusal names it.
fn pattern(text: &[u8], kid: &str) -> Option<&'static str> {
    let lower = String::from_utf8_lossy(text).trim().to_ascii_lowercase();
    let bytes = lower.as_bytes();
    if lower.starts_with("inkan_") || lower == kid.to_ascii_lowercase() {
        return Some("a setting name");
    }
    let repeats = |word: &str| {
        !word.is_empty()
            && bytes.len().is_multiple_of(word.len())
            && bytes.chunks(word.len()).all(|c| c == word.as_bytes())
    };
    if PLACEHOLDERS.iter().any(|w| repeats(w)) {
        return Some("a well-known placeholder");
    }
    // A short period means a typed pattern: "abcabcabc…", "aaaa…".
    let periodic = (1..=16).any(|period| {
        bytes.len() >= 2 * period && bytes.iter().skip(period).zip(bytes).all(|(a, b)| a == b)
    });
    if periodic {
        return Some("a repetition");
    }
    // Mostly runs of symbols each one after the last: "0123456789…",
    // "abcdef…".
    if 2 * in_sequences(bytes) >= bytes.len() {
        return Some("a sequence");
    }
    None
}

/// How many symbols of `text` stand in runs of five or more, each one
/// after (or before) the last, as in "01234" or "fedcba": a secret that
/// is mostly such runs was typed, not drawn. (Random hex shows a short run
/// now and then, so a run alone condemns nothing.)
fn in_sequences(text: &[u8]) -> usize {
    const RUN: usize = 5;
    let mut total = 0;
    let mut run = 1;
    let mut step = 0i16;
    for pair in text.windows(2) {
        let this = i16::from(pair[1]) - i16::from(pair[0]);
        if this.abs() == 1 && (run == 1 || this == step) {
            run += 1;
        } else {
            if run >= RUN {
                total += run;
            }
            run = if this.abs() == 1 { 2 } else { 1 };
        }
        step = this;
    }
    if run >= RUN {
        total += run;
    }
    total
}

/// Whether `secret` uses too few distinct symbols for its alphabet and
/// length to have been drawn at random: fewer than half of what a random
/// one shows on average (for 32 random bytes, about 30; for 32 random hex
/// digits, about 14).
fn too_few_symbols(secret: &[u8], alphabet: Alphabet) -> bool {
    let distinct = secret
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len() as f64;
    let size = alphabet.size();
    let expected = size * (1.0 - (1.0 - 1.0 / size).powi(secret.len() as i32));
    distinct < expected / 2.0
}

/// Refuses an HS256 secret that is weak, patterned, a placeholder or a
/// setting name, and returns a warning for one accepted below the bits RFC
/// 7518 asks for. `encoded` is the text as written in the file and
/// `secret` the bytes it decodes to: a person who types `changeme…` into
/// the file (without encoding it) must be caught as surely as one who
/// encodes it. Strength is judged by the alphabet the secret keeps to, so
/// the hex text of 32 random bytes (a PHP `bin2hex(random_bytes(32))`) is
/// as strong as the bytes.
pub(super) fn check_secret_strength(
    kid: &str,
    encoded: &str,
    secret: &[u8],
) -> Result<Option<String>, KeySetError> {
    let refused = |what: &'static str| KeySetError::SecretPlaceholder {
        kid: kid.into(),
        what,
    };
    if let Some(what) = pattern(encoded.as_bytes(), kid).or_else(|| pattern(secret, kid)) {
        return Err(refused(what));
    }
    let strength = Strength::of(secret);
    if strength.bits < MIN_SECRET_BITS {
        return Err(KeySetError::SecretWeak {
            kid: kid.into(),
            alphabet: strength.alphabet.name(),
            bits: strength.bits.floor() as u32,
        });
    }
    if too_few_symbols(secret, strength.alphabet) {
        return Err(refused("too few distinct symbols to be random"));
    }
    Ok(strength.warning(kid))
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;

    fn hex(rng: &mut StdRng, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", rng.gen::<u8>()))
            .collect()
    }

    /// The file's text for `secret`, as `keys add-legacy` writes it.
    fn check(secret: &[u8]) -> Result<Option<String>, KeySetError> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        check_secret_strength("monolith", &URL_SAFE_NO_PAD.encode(secret), secret)
    }

    #[test]
    fn every_random_hex_secret_a_php_system_makes_is_accepted() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            // bin2hex(random_bytes(32)): 256 bits, no warning.
            let long = hex(&mut rng, 32);
            assert_eq!(check(long.as_bytes()).unwrap(), None, "{long}");
            // bin2hex(random_bytes(16)), md5-style: 128 bits, a warning.
            let short = hex(&mut rng, 16);
            let warning = check(short.as_bytes())
                .unwrap_or_else(|e| panic!("{short}: {e}"))
                .expect("below 256 bits is warned of");
            assert!(
                warning.contains("hex") && warning.contains("128 bits"),
                "{warning}"
            );
        }
    }

    #[test]
    fn random_secrets_in_every_alphabet_are_judged_by_their_entropy() {
        use base64::{
            engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
            Engine,
        };
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let raw: [u8; 32] = rng.gen();
            assert_eq!(check(&raw).unwrap(), None);
            assert_eq!(check(STANDARD.encode(raw).as_bytes()).unwrap(), None);
            assert_eq!(check(URL_SAFE_NO_PAD.encode(raw).as_bytes()).unwrap(), None);
            let printable: String = (0..40)
                .map(|_| rng.gen_range(0x21u8..0x7f) as char)
                .collect();
            assert_eq!(check(printable.as_bytes()).unwrap(), None, "{printable}");
        }
        let sixteen: [u8; 16] = rng.gen();
        assert!(
            check(&sixteen).unwrap().is_some(),
            "128 bits: accepted, warned of"
        );
        let fifteen: [u8; 15] = rng.gen();
        let err = check(&fifteen).unwrap_err();
        assert!(
            matches!(
                err,
                KeySetError::SecretWeak {
                    bits: 120,
                    alphabet: "raw bytes",
                    ..
                }
            ),
            "{err}"
        );
        let short_hex = hex(&mut rng, 15);
        let err = check(short_hex.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key \"monolith\": the HS256 secret (hex) carries about 120 bits of entropy; at least 128 \
             are required (32 random bytes, or 64 random hex digits, carry 256)"
        );
    }

    #[test]
    fn a_refusal_says_what_the_secret_is_instead() {
        for (secret, what) in [
            ("changeme".repeat(5), "a well-known placeholder"),
            ("ACCESS_SECRET".repeat(3), "a well-known placeholder"),
            (
                "INKAN_LEGACY_SECRET_0123456789abcdef".to_owned(),
                "a setting name",
            ),
            ("Xy7!".repeat(10), "a repetition"),
            (
                "abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
                "a sequence",
            ),
            ("9876543210zyxwvutsrqponmlkj7Q".to_owned(), "a sequence"),
        ] {
            let err = check(secret.as_bytes()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("key \"monolith\": the HS256 secret is {what}, not a secret"),
                "{secret}"
            );
        }
        // A typed run inside an otherwise random secret condemns nothing.
        let mut rng = StdRng::seed_from_u64(3);
        let mixed = format!("0123456789{}", hex(&mut rng, 16));
        assert!(check(mixed.as_bytes()).is_ok(), "{mixed}");
        // 64 hex digits from three symbols: hex by alphabet, not random.
        let err = check("abc".repeat(21).replace("abcab", "acbba").as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("too few distinct symbols")
                || err.to_string().contains("repetition"),
            "{err}"
        );
    }
}
