//! Access-token claims and their verification.
//!
//! Access tokens are JWTs signed with Ed25519 (`EdDSA`). The write host
//! holds the private key and mints them; every service that only needs to
//! know *who* is calling, the read host included, holds the public key and
//! can verify but never mint. Verification pins the algorithm and checks
//! every claim: a token is accepted only if all of them are present and
//! right.
//!
//! A verified token is remembered (by its SHA-256, until it expires) so a
//! client's next requests cost a hash instead of a signature check; the
//! revocation check still runs on every request.
//!
//! Every access token names its session (`sid`). A host refuses the tokens
//! of a revoked session ([`RevokedSessions`], attached as route data): the
//! write host asks its database, the read host a set the projector keeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use contracts::ids::UserId;

/// The `typ` claim of an access token; refresh tokens are opaque and never JWTs,
/// but the claim keeps any other future JWT from passing as an access token.
pub const ACCESS_TOKEN_TYPE: &str = "access";

/// Clock skew allowed past `exp` and before `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account id, as a string.
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// Unique token id.
    pub jti: String,
    /// Token type: always [`ACCESS_TOKEN_TYPE`].
    pub typ: String,
    /// The session (login) the token belongs to.
    pub sid: uuid::Uuid,
    /// OAuth scopes, space-separated (Mastodon API tokens); absent on
    /// session tokens, which may do everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Who is calling, from a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub session: uuid::Uuid,
    pub scopes: crate::scopes::Scopes,
}

/// The sessions whose access tokens are refused.
#[async_trait::async_trait]
pub trait RevokedSessions: Send + Sync + 'static {
    /// `Err` when the answer is unknown (a store is down): the request
    /// fails with 503 rather than letting a possibly revoked token pass.
    async fn is_revoked(&self, session: uuid::Uuid) -> Result<bool, String>;
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the public key cannot be used: {0}")]
    Key(String),
}

/// Verified tokens remembered at most; when full, all are forgotten at
/// once (each costs one signature check again), so memory stays bounded.
pub const VERIFIED_TOKENS: usize = 20_000;

/// SHA-256 of a verified token → its caller and expiry (unix seconds).
type Verified = HashMap<[u8; 32], (Principal, i64)>;

/// Checks access tokens with the public key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    verified: Arc<Mutex<Verified>>,
}

impl TokenVerifier {
    /// `public_key_pem` is an Ed25519 public key in PEM (SPKI) form.
    pub fn new(public_key_pem: &[u8], issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let key =
            DecodingKey::from_ed_pem(public_key_pem).map_err(|e| AuthError::Key(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            key,
            validation,
            verified: Arc::default(),
        })
    }

    /// Returns the caller if the token is a valid access token. Whether its
    /// session was revoked is for the caller to check.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// [`TokenVerifier::verify`], with the token's expiry (unix seconds),
    /// for connections that outlive a request.
    pub fn verify_until(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let remembered = self.remembered().get(&digest).copied();
        if let Some((principal, exp)) = remembered
            && now <= exp + LEEWAY_SECS as i64
        {
            return Ok((principal, exp));
        }
        let (principal, exp) = self.check(token)?;
        let mut verified = self.remembered();
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(digest, (principal, exp));
        Ok((principal, exp))
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Verified> {
        // A panic while holding the lock leaves a valid map behind.
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signature and every claim; the caller and the expiry.
    fn check(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(AuthError::Invalid(format!("token type `{}`", claims.typ)));
        }
        let user = claims
            .sub
            .parse()
            .map_err(|_| AuthError::Invalid("subject is not an account id".into()))?;
        let scopes = match &claims.scope {
            None => crate::scopes::Scopes::ALL,
            Some(list) => crate::scopes::Scopes::parse(list)
                .map_err(|s| AuthError::Invalid(format!("unknown scope `{s}`")))?,
        };
        let principal = Principal {
            user,
            session: claims.sid,
            scopes,
        };
        Ok((principal, claims.exp))
    }

    /// Verifies the token and checks that its session was not revoked.
    pub async fn authenticate(
        &self,
        token: &str,
        revoked: &dyn RevokedSessions,
    ) -> Result<Principal, poem::Error> {
        let (principal, _) = self.authenticate_until(token, revoked).await?;
        Ok(principal)
    }

    /// [`TokenVerifier::authenticate`], with the token's expiry (unix
    /// seconds), for connections that outlive a request.
    pub async fn authenticate_until(
        &self,
        token: &str,
        revoked: &dyn RevokedSessions,
    ) -> Result<(Principal, i64), poem::Error> {
        let (principal, expires_at) = self.verify_until(token).map_err(|e| {
            tracing::debug!(error = %e, "rejected access token");
            crate::problem::unauthorized("the access token is invalid or expired")
        })?;
        match revoked.is_revoked(principal.session).await {
            Ok(false) => Ok((principal, expires_at)),
            Ok(true) => Err(crate::problem::unauthorized(
                "the session has ended; log in again",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check whether a session was revoked");
                let unavailable = crate::error::ApiError::unavailable(
                    "cannot check the session now; retry later",
                    1,
                );
                Err(poem::Error::from_response(
                    poem::IntoResponse::into_response(unavailable),
                ))
            }
        }
    }
}

/// The `Authorization: Bearer <access token>` scheme of both APIs. The
/// verifier comes from the route's data; a missing, malformed or rejected
/// token is a 401 problem with `WWW-Authenticate`.
#[derive(poem_openapi::SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub UserId);

/// Public routes that show more to a signed-in reader (their own likes):
/// the caller's account when a valid bearer token came, else anonymous. A
/// missing or rejected token reads as anonymous rather than a 401, as the
/// route's public content is the same either way.
#[derive(poem_openapi::SecurityScheme)]
pub enum OptionalBearer {
    Bearer(BearerAuth),
    #[oai(fallback)]
    Anonymous,
}

impl OptionalBearer {
    pub fn user(&self) -> Option<UserId> {
        match self {
            OptionalBearer::Bearer(BearerAuth(user)) => Some(*user),
            OptionalBearer::Anonymous => None,
        }
    }
}

async fn check_bearer(
    req: &poem::Request,
    bearer: poem_openapi::auth::Bearer,
) -> poem::Result<UserId> {
    let verifier = req
        .data::<std::sync::Arc<TokenVerifier>>()
        .expect("the token verifier is attached to every authenticated route");
    let revoked = req
        .data::<std::sync::Arc<dyn RevokedSessions>>()
        .expect("the revoked sessions are attached to every authenticated route");
    Ok(verifier
        .authenticate(&bearer.token, revoked.as_ref())
        .await?
        .user)
}
