//! Key-pair JWT for Snowflake's SQL API (snowflake.md §4): a pure `mint_jwt` with the clock
//! injected, the key loaded (and decrypted) once, and a cache that renews the token before it
//! expires.
//!
//! Claims: `iss = ACCOUNT.USER.SHA256:<fp>`, `sub = ACCOUNT.USER`, `iat`, `exp` (≤ 1 h after
//! `iat`); RS256, signed by `jsonwebtoken` (RustCrypto backend); `fp` is
//! base64(sha256(DER SubjectPublicKeyInfo)), standard base64 with padding. PEM, PKCS#1 and
//! (encrypted) PKCS#8 are read with `rsa`/`pkcs8`: `jsonwebtoken` only gets the decrypted key.

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::sha2::{Digest, Sha256};
use rsa::{PrivateKey, PublicKey};
use secrecy::{ExposeSecret, SecretString};

/// Snowflake ignores any validity beyond one hour after `iat`.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// Why the private key could not be used, phrased for the person who has to fix it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The RSA key pair, decrypted once at start-up (scrypt keys take seconds in a debug build).
pub struct KeyPair {
    /// The decrypted key as PKCS#1 DER (what `jsonwebtoken` signs RS256 with); zeroized on drop.
    encoding: EncodingKey,
    fingerprint: String,
    bits: usize,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_key", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl KeyPair {
    /// Reads a PEM file: `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY` (PKCS#8 with the
    /// passphrase; AES or 3DES, PBKDF2 or scrypt) or, leniently, `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_file(path: &Path, passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            KeyError(format!(
                "cannot read the private key {} (MLC_SNOWFLAKE__PRIVATE_KEY_PATH): {e}",
                path.display()
            ))
        })?;
        Self::from_pem(&pem, passphrase)
    }

    pub fn from_pem(pem: &str, passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let text = pem.trim_start_matches('\u{feff}');
        let key = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let pass = passphrase.filter(|p| !p.expose_secret().is_empty()).ok_or_else(|| {
                KeyError("the private key is encrypted but no passphrase is set: set MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE".into())
            })?;
            PrivateKey::from_pkcs8_encrypted_pem(text, pass.expose_secret().as_bytes()).map_err(|e| {
                KeyError(format!(
                    "cannot decrypt the private key ({e}): is MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE the passphrase it was encrypted with?"
                ))
            })?
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            PrivateKey::from_pkcs8_pem(text).map_err(|e| {
                KeyError(format!(
                    "the private key is not a valid RSA PKCS#8 key: {e}"
                ))
            })?
        } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            PrivateKey::from_pkcs1_pem(text).map_err(|e| {
                KeyError(format!(
                    "the private key is not a valid PKCS#1 RSA key ({e}); convert it with `openssl pkcs8 -topk8 -inform PEM -in key.pem -out rsa_key.p8 -nocrypt`"
                ))
            })?
        } else {
            return Err(KeyError(
                "the private key file is not PEM (expected -----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----); create one with `openssl genrsa 2048 | openssl pkcs8 -topk8 -inform PEM -out rsa_key.p8 -nocrypt`".into(),
            ));
        };
        Self::from_key(key)
    }

    fn from_key(key: PrivateKey) -> Result<Self, KeyError> {
        let public = PublicKey::from(&key);
        let der = public
            .to_public_key_der()
            .map_err(|e| KeyError(format!("cannot encode the public key: {e}")))?;
        let fingerprint = format!("SHA256:{}", STANDARD.encode(Sha256::digest(der.as_bytes())));
        let bits = rsa::traits::PublicKeyParts::size(&public) * 8;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| KeyError(format!("cannot encode the private key for signing: {e}")))?;
        Ok(KeyPair {
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            fingerprint,
            bits,
        })
    }

    /// `SHA256:<base64>` of the DER SubjectPublicKeyInfo: what `DESC USER` shows as
    /// `RSA_PUBLIC_KEY_FP`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Modulus size in bits (Snowflake wants at least 2048).
    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// Upper case; a locator's region/cloud suffix cut (`xy12345.eu-west-1` → `XY12345`); a `.global`
/// account cut at the first `-` as the Python connector does; any other `.` (`myorg.myaccount`)
/// becomes `-` (snowflake.md §4). A pasted host name loses `.snowflakecomputing.com`.
pub fn normalize_account(account: &str) -> String {
    let mut a = account.trim().to_ascii_lowercase();
    for prefix in ["https://", "http://"] {
        if let Some(rest) = a.strip_prefix(prefix) {
            a = rest.to_string();
        }
    }
    a = a.trim_end_matches('/').to_string();
    for suffix in [".snowflakecomputing.com", ".privatelink"] {
        if let Some(rest) = a.strip_suffix(suffix) {
            a = rest.to_string();
        }
    }
    if a.contains(".global") {
        // python connector: account.partition("-")[0] for global URLs
        let base = a.split('.').next().unwrap_or(&a);
        return base.split('-').next().unwrap_or(base).to_ascii_uppercase();
    }
    match a.split_once('.') {
        None => a.to_ascii_uppercase(),
        Some((head, rest)) if is_region(rest) => head.to_ascii_uppercase(),
        Some(_) => a.replace('.', "-").to_ascii_uppercase(),
    }
}

/// `eu-west-1`, `us-east-2.aws`, `us-central1.gcp`, `canada-central.azure`, `east-us-2.azure`.
fn is_region(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('.').collect();
    if matches!(parts.last(), Some(&("aws" | "gcp" | "azure"))) {
        return true;
    }
    let first = parts[0];
    first.contains('-')
        && first.chars().any(|c| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The claims of a token, as minted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// Mints a token valid from `now` for `lifetime_secs` (capped at one hour). Pure: the clock is
/// the caller's.
pub fn mint_jwt_with_lifetime(
    key: &KeyPair,
    account: &str,
    user: &str,
    now: i64,
    lifetime_secs: i64,
) -> Result<(String, Claims), KeyError> {
    let qualified = format!(
        "{}.{}",
        normalize_account(account),
        user.trim().to_ascii_uppercase()
    );
    let claims = Claims {
        iss: format!("{qualified}.{}", key.fingerprint()),
        sub: qualified,
        iat: now,
        exp: now + lifetime_secs.clamp(1, MAX_LIFETIME_SECS),
    };
    // header `{"typ":"JWT","alg":"RS256"}`
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key.encoding)
        .map_err(|e| KeyError(format!("RS256 signing failed: {e}")))?;
    Ok((token, claims))
}

/// [`mint_jwt_with_lifetime`] with the default lifetime (one hour).
pub fn mint_jwt(key: &KeyPair, account: &str, user: &str, now: i64) -> Result<String, KeyError> {
    mint_jwt_with_lifetime(key, account, user, now, MAX_LIFETIME_SECS).map(|(t, _)| t)
}

/// Seconds since the epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

/// Hands out a cached token and mints a new one shortly before the old one expires.
pub struct TokenSource {
    key: Arc<KeyPair>,
    account: String,
    user: String,
    lifetime_secs: i64,
    renew_before_secs: i64,
    clock: Clock,
    cached: Mutex<Option<(String, Claims)>>,
    minted: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl TokenSource {
    pub fn new(
        key: Arc<KeyPair>,
        account: &str,
        user: &str,
        lifetime_secs: i64,
        clock: Clock,
    ) -> Self {
        let lifetime_secs = lifetime_secs.clamp(1, MAX_LIFETIME_SECS);
        TokenSource {
            key,
            account: account.to_string(),
            user: user.to_string(),
            lifetime_secs,
            // renew when a fifth of the lifetime (at most 5 min, at least 1 s) is left
            renew_before_secs: (lifetime_secs / 5).clamp(1, 300).min(lifetime_secs - 1),
            clock,
            cached: Mutex::new(None),
            minted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A token valid for a while yet: the cached one, or a fresh one.
    pub fn token(&self) -> Result<String, KeyError> {
        let now = (self.clock)();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, claims)) = cached.as_ref()
            && now < claims.exp - self.renew_before_secs
            && now >= claims.iat
        {
            return Ok(token.clone());
        }
        let (token, claims) = mint_jwt_with_lifetime(
            &self.key,
            &self.account,
            &self.user,
            now,
            self.lifetime_secs,
        )?;
        self.minted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *cached = Some((token.clone(), claims));
        Ok(token)
    }

    /// Drops the cached token (after Snowflake refused it), so the next call mints anew.
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// How many tokens were minted so far.
    pub fn minted(&self) -> u64 {
        self.minted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// `ACCOUNT.USER` as it goes into `sub`.
    pub fn subject(&self) -> String {
        format!(
            "{}.{}",
            normalize_account(&self.account),
            self.user.trim().to_ascii_uppercase()
        )
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    use super::*;

    const NOW: i64 = 1_796_000_000;

    /// A 2048-bit key made by OpenSSL, not by the code under test: (its dir, the PKCS#8 PEM,
    /// the public key as PKCS#1 DER).
    fn openssl_key() -> (tempfile::TempDir, String, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl on PATH");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.p8",
        ]);
        let public_der = run(&[
            "rsa",
            "-in",
            "key.p8",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
        ]);
        let pem = std::fs::read_to_string(dir.path().join("key.p8")).unwrap();
        (dir, pem, public_der)
    }

    fn validation(claims: &Claims, check_exp: bool) -> Validation {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = check_exp;
        v.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        v.set_issuer(&[&claims.iss]);
        v.sub = Some(claims.sub.clone());
        v
    }

    #[test]
    fn snowflake_jwt_verifies_with_jsonwebtoken_and_keeps_the_claims() {
        let (_dir, pem, public_der) = openssl_key();
        let pair = KeyPair::from_pem(&pem, None).unwrap();
        let public = DecodingKey::from_rsa_der(&public_der);

        let (token, claims) =
            mint_jwt_with_lifetime(&pair, "xy12345.eu-west-1", "svc_sync", NOW, 3600).unwrap();
        let expected = Claims {
            iss: format!("XY12345.SVC_SYNC.{}", pair.fingerprint()),
            sub: "XY12345.SVC_SYNC".into(),
            iat: NOW,
            exp: NOW + 3600,
        };
        assert!(expected.iss.contains(".SHA256:"), "{}", expected.iss);
        assert_eq!(claims, expected);

        // the signature checks out against OpenSSL's public key, the claims decode unchanged
        let data = decode::<Claims>(&token, &public, &validation(&expected, false)).unwrap();
        assert_eq!(data.claims, expected);
        assert_eq!(data.header.alg, Algorithm::RS256);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));

        // the claims segment is byte for byte what the hand-assembled token carried
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(segments.len(), 3);
        assert_eq!(
            String::from_utf8(URL_SAFE_NO_PAD.decode(segments[1]).unwrap()).unwrap(),
            format!(
                r#"{{"iss":"{}","sub":"XY12345.SVC_SYNC","iat":{NOW},"exp":{}}}"#,
                expected.iss,
                NOW + 3600
            )
        );
        // mint_jwt is the same token with the default (one hour) lifetime; minting is pure
        assert_eq!(
            mint_jwt(&pair, "xy12345.eu-west-1", "svc_sync", NOW).unwrap(),
            token
        );

        // other claims under this signature are refused
        let forged_claims = Claims {
            sub: "XY12345.SOMEONE_ELSE".into(),
            ..expected.clone()
        };
        let forged = format!(
            "{}.{}.{}",
            segments[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap()),
            segments[2]
        );
        let err =
            decode::<Claims>(&forged, &public, &validation(&forged_claims, false)).unwrap_err();
        assert_eq!(
            err.kind(),
            &jsonwebtoken::errors::ErrorKind::InvalidSignature
        );

        // a token minted now passes the expiry check too
        let now = chrono::Utc::now().timestamp();
        let (live, live_claims) = mint_jwt_with_lifetime(&pair, "acct", "u", now, 60).unwrap();
        assert_eq!(live_claims.exp, now + 60);
        let data = decode::<Claims>(&live, &public, &validation(&live_claims, true)).unwrap();
        assert_eq!(data.claims, live_claims);
    }

    #[test]
    fn snowflake_key_pair_debug_shows_no_key() {
        let (_dir, pem, _) = openssl_key();
        let pair = KeyPair::from_pem(&pem, None).unwrap();
        let debug = format!("{pair:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains(pair.fingerprint()), "{debug}");
        assert!(
            !debug.contains("BEGIN") && !debug.contains("content"),
            "{debug}"
        );
    }
}
