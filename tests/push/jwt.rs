//! Key-pair JWT with a fixed clock: claims, fingerprint (against OpenSSL), signature (verified
//! by OpenSSL), plain and encrypted PKCS#8, the token cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ml_connector::snowflake::jwt::{
    self, KeyPair, TokenSource, mint_jwt, mint_jwt_with_lifetime, normalize_account,
};
use secrecy::SecretString;
use serde_json::Value;

use crate::harness::{PASSPHRASE, TestKey};

const NOW: i64 = 1_796_000_000;

fn parts(token: &str) -> (Value, Value, Vec<u8>, String) {
    let mut it = token.split('.');
    let (h, c, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    let dec = |p: &str| URL_SAFE_NO_PAD.decode(p).unwrap();
    (
        serde_json::from_slice(&dec(h)).unwrap(),
        serde_json::from_slice(&dec(c)).unwrap(),
        dec(s),
        format!("{h}.{c}"),
    )
}

#[test]
fn claims_fingerprint_and_signature() {
    let key = TestKey::generate();
    let pair = KeyPair::from_file(&key.plain, None).unwrap();
    assert_eq!(
        pair.fingerprint(),
        format!("SHA256:{}", key.openssl_fingerprint)
    );
    assert_eq!(pair.bits(), 2048);

    let token = mint_jwt(&pair, "xy12345.eu-west-1", "svc_sync", NOW).unwrap();
    let (header, claims, signature, input) = parts(&token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(
        claims["iss"],
        format!("XY12345.SVC_SYNC.SHA256:{}", key.openssl_fingerprint)
    );
    assert_eq!(claims["sub"], "XY12345.SVC_SYNC");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 3600);
    assert!(
        key.openssl_verifies(input.as_bytes(), &signature),
        "openssl rejects the signature"
    );
    assert!(!key.openssl_verifies(b"something else", &signature));

    // the lifetime is capped at one hour whatever is asked
    let (_, c) = mint_jwt_with_lifetime(&pair, "a", "b", NOW, 86_400).unwrap();
    assert_eq!(c.exp - c.iat, 3600);
    // same clock, same token: minting is pure
    assert_eq!(
        mint_jwt(&pair, "xy12345.eu-west-1", "svc_sync", NOW).unwrap(),
        token
    );
}

#[test]
fn encrypted_keys_decrypt_to_the_same_key() {
    let key = TestKey::generate();
    let plain = KeyPair::from_file(&key.plain, None).unwrap();
    let pass = SecretString::from(PASSPHRASE.to_string());
    for path in [&key.encrypted, &key.encrypted_3des] {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("BEGIN ENCRYPTED PRIVATE KEY"));
        let enc = KeyPair::from_file(path, Some(&pass)).unwrap();
        assert_eq!(enc.fingerprint(), plain.fingerprint());
        assert_eq!(
            mint_jwt(&enc, "acct", "u", NOW).unwrap(),
            mint_jwt(&plain, "acct", "u", NOW).unwrap()
        );
    }
    let err = KeyPair::from_file(&key.encrypted, None).unwrap_err();
    assert!(
        err.0.contains("MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE"),
        "{err}"
    );
    let wrong = SecretString::from("not it".to_string());
    let err = KeyPair::from_file(&key.encrypted, Some(&wrong)).unwrap_err();
    assert!(err.0.contains("cannot decrypt"), "{err}");
    assert!(!err.0.contains(PASSPHRASE));
    let debug = format!("{plain:?}");
    assert!(debug.contains("redacted") && !debug.contains("BEGIN"));
}

#[test]
fn pkcs1_and_garbage() {
    let key = TestKey::generate();
    let text = String::from_utf8(crate::harness::sh(
        "openssl rsa -in plain.p8 -traditional 2>/dev/null",
        key.dir.path(),
    ))
    .unwrap();
    assert!(text.contains("BEGIN RSA PRIVATE KEY"));
    let pair = KeyPair::from_pem(&text, None).unwrap();
    assert_eq!(
        pair.fingerprint(),
        format!("SHA256:{}", key.openssl_fingerprint)
    );
    let err = KeyPair::from_pem("hello", None).unwrap_err();
    assert!(err.0.contains("not PEM"), "{err}");
    let missing =
        KeyPair::from_file(std::path::Path::new("/nonexistent/key.p8"), None).unwrap_err();
    assert!(
        missing.0.contains("MLC_SNOWFLAKE__PRIVATE_KEY_PATH"),
        "{missing}"
    );
}

#[test]
fn account_normalisation() {
    for (given, expected) in [
        ("myorg-myaccount", "MYORG-MYACCOUNT"),
        ("myorg-my_account", "MYORG-MY_ACCOUNT"),
        ("xy12345", "XY12345"),
        ("xy12345.eu-west-1", "XY12345"),
        ("xy12345.us-east-2.aws", "XY12345"),
        ("xy12345.us-central1.gcp", "XY12345"),
        ("xy12345.canada-central.azure", "XY12345"),
        ("XY12345.EU-WEST-1", "XY12345"),
        ("myorg.myaccount", "MYORG-MYACCOUNT"),
        ("xy12345.eu-west-1.snowflakecomputing.com", "XY12345"),
        (
            "https://myorg-myaccount.snowflakecomputing.com/",
            "MYORG-MYACCOUNT",
        ),
        ("testaccount-abc.global", "TESTACCOUNT"),
    ] {
        assert_eq!(normalize_account(given), expected, "{given}");
    }
}

#[test]
fn the_cache_renews_before_expiry() {
    let key = TestKey::generate();
    let pair = Arc::new(KeyPair::from_file(&key.plain, None).unwrap());
    let now = Arc::new(AtomicI64::new(NOW));
    let clock_now = now.clone();
    let clock: jwt::Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
    let source = TokenSource::new(pair, "acct", "user", 600, clock);
    let first = source.token().unwrap();
    now.store(NOW + 300, Ordering::SeqCst);
    assert_eq!(source.token().unwrap(), first, "a fresh token is reused");
    assert_eq!(source.minted(), 1);
    // renewed when a fifth of the lifetime is left (120 s of 600)
    now.store(NOW + 481, Ordering::SeqCst);
    let second = source.token().unwrap();
    assert_ne!(second, first);
    assert_eq!(parts(&second).1["iat"], NOW + 481);
    assert_eq!(source.minted(), 2);
    source.invalidate();
    let third = source.token().unwrap();
    assert_eq!(source.minted(), 3);
    assert_eq!(third, second, "same clock, same claims");
    // a clock that went backwards gets a new token too
    now.store(NOW, Ordering::SeqCst);
    source.token().unwrap();
    assert_eq!(source.minted(), 4);
    assert!(!format!("{source:?}").contains(&first));
}
