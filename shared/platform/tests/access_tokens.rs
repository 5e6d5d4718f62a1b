//! Access-token verification: one valid token passes; every forgery,
//! mismatch or missing claim is rejected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::ids::UserId;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::TokenVerifier;
use serde_json::{Value, json};

const PRIVATE: &[u8] = include_bytes!("fixtures/test-signing.pem");
const PUBLIC: &[u8] = include_bytes!("fixtures/test-signing.pub.pem");
const OTHER_PRIVATE: &[u8] = include_bytes!("fixtures/test-other.pem");

fn verifier() -> TokenVerifier {
    TokenVerifier::new(PUBLIC, "microblog", "microblog-api").unwrap()
}

fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "42", "iat": now, "nbf": now, "exp": now + 900,
        "iss": "microblog", "aud": "microblog-api",
        "jti": "5f0c2a9e-4b7d-4e56-9d0a-3c1b2a7e9f10", "typ": "access",
        "sid": "0b6a3f4e-2c1d-4e5f-8a9b-7c6d5e4f3a2b"
    })
}

fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        claims,
        &EncodingKey::from_ed_pem(key).unwrap(),
    )
    .unwrap()
}

fn with(change: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    change(&mut c);
    sign(&c, PRIVATE)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn a_valid_access_token_names_its_account() {
    let principal = verifier().verify(&sign(&claims(), PRIVATE)).unwrap();
    assert_eq!(principal.user, UserId(42));
    assert_eq!(
        principal.session.to_string(),
        "0b6a3f4e-2c1d-4e5f-8a9b-7c6d5e4f3a2b"
    );
}

#[test]
fn alg_none_is_rejected() {
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims())
    );
    assert!(verifier().verify(&token).is_err());
}

#[test]
fn hs256_signed_with_the_public_key_as_secret_is_rejected() {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(PUBLIC),
    )
    .unwrap();
    assert!(verifier().verify(&token).is_err());
}

#[test]
fn expired_and_not_yet_valid_tokens_are_rejected() {
    let now = chrono::Utc::now().timestamp();
    let expired = with(|c| {
        c["iat"] = json!(now - 3600);
        c["nbf"] = json!(now - 3600);
        c["exp"] = json!(now - 60);
    });
    assert!(verifier().verify(&expired).is_err());
    let early = with(|c| c["nbf"] = json!(now + 3600));
    assert!(verifier().verify(&early).is_err());
}

#[test]
fn wrong_audience_issuer_or_type_is_rejected() {
    for (claim, value) in [("aud", "someone-else"), ("iss", "evil"), ("typ", "refresh")] {
        let token = with(|c| c[claim] = json!(value));
        assert!(verifier().verify(&token).is_err(), "{claim}={value}");
    }
    let not_an_account = with(|c| c["sub"] = json!("root"));
    assert!(verifier().verify(&not_an_account).is_err());
}

#[test]
fn every_missing_claim_is_rejected() {
    for claim in [
        "sub", "iat", "nbf", "exp", "iss", "aud", "jti", "typ", "sid",
    ] {
        let token = with(|c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        assert!(verifier().verify(&token).is_err(), "without {claim}");
    }
}

#[test]
fn a_tampered_payload_is_rejected() {
    let token = sign(&claims(), PRIVATE);
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("1");
    let tampered = format!("{}.{}.{}", parts[0], b64(&forged), parts[2]);
    assert!(verifier().verify(&tampered).is_err());
}

#[test]
fn a_signature_by_another_key_is_rejected() {
    assert!(verifier().verify(&sign(&claims(), OTHER_PRIVATE)).is_err());
}

#[test]
fn a_refresh_token_is_not_an_access_token() {
    // Refresh tokens are 256 random bits in base64url, not JWTs.
    let refresh = URL_SAFE_NO_PAD.encode([7u8; 32]);
    assert!(verifier().verify(&refresh).is_err());
    assert!(verifier().verify("").is_err());
}

#[test]
fn a_remembered_token_still_expires_and_forgeries_are_not_remembered() {
    let verifier = verifier();
    // Expires within the leeway from now: accepted, and remembered.
    let expiring = with(|c| c["exp"] = json!(chrono::Utc::now().timestamp() - 2));
    assert!(verifier.verify(&expiring).is_ok());
    assert!(verifier.verify(&expiring).is_ok(), "remembered");
    // Remembered tokens are looked up by their whole text: a token with
    // one changed byte is checked, and refused.
    let mut tampered = expiring.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert!(
        verifier
            .verify(&String::from_utf8(tampered).unwrap())
            .is_err()
    );
    // Past its expiry and the leeway (3 s from now), the remembered token
    // is refused too.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(verifier.verify(&expiring).is_err());
}
