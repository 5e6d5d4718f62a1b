//! Minting access tokens and refresh tokens.
//!
//! Access tokens are short-lived Ed25519-signed JWTs (claims in
//! [`platform::auth::AccessClaims`]). Refresh tokens are 256 random bits,
//! handed to the client once and stored only as their SHA-256 hash.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::ids::UserId;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{ACCESS_TOKEN_TYPE, AccessClaims};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    /// `private_key_pem` is an Ed25519 private key in PKCS#8 PEM form.
    pub fn new(
        private_key_pem: &[u8],
        issuer: String,
        audience: String,
        ttl: Duration,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(private_key_pem)?,
            issuer,
            audience,
            ttl,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// An access token for `user` in `session`.
    pub fn access_token(&self, user: UserId, session: uuid::Uuid) -> String {
        let now = chrono::Utc::now().timestamp();
        self.access_token_until(user, session, now + self.ttl.as_secs() as i64, None)
    }

    /// An access token for `user` in `session` that expires at `exp`
    /// (unix seconds), limited to `scope` when given: OAuth tokens live
    /// until revoked, as Mastodon's do, and carry their grant's scopes.
    pub fn access_token_until(
        &self,
        user: UserId,
        session: uuid::Uuid,
        exp: i64,
        scope: Option<&str>,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user.to_string(),
            iat: now,
            nbf: now,
            exp,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            sid: session,
            scope: scope.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .expect("signing with a loaded Ed25519 key cannot fail")
    }
}

/// A new refresh token: `(token for the client, hash to store)`.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    new_secret()
}

/// 256 random bits for a client (a refresh token, an OAuth client secret,
/// code or application token) and the SHA-256 to store: `(secret, hash)`.
pub fn new_secret() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_token_hash(&token);
    (token, hash)
}

pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
