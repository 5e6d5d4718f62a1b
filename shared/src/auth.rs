//! Access-token claims and their verification.
//!
//! Access tokens are JWTs signed with Ed25519 (`EdDSA`). The write host
//! holds the private key and mints them; every service that only needs to
//! know *who* is calling, the read host included, holds the public key and
//! can verify but never mint. Verification pins the algorithm and checks
//! every claim: a token is accepted only if all of them are present and
//! right.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// The `typ` claim of an access token; refresh tokens are opaque and never JWTs,
/// but the claim keeps any other future JWT from passing as an access token.
pub const ACCESS_TOKEN_TYPE: &str = "access";

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
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the public key cannot be used: {0}")]
    Key(String),
}

/// Checks access tokens with the public key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
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
        validation.leeway = 5;
        Ok(Self { key, validation })
    }

    /// Returns the caller's account id if the token is a valid access token.
    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(AuthError::Invalid(format!("token type `{}`", claims.typ)));
        }
        claims
            .sub
            .parse()
            .map_err(|_| AuthError::Invalid("subject is not an account id".into()))
    }
}

/// The `Authorization: Bearer <access token>` scheme of both APIs. The
/// verifier comes from the route's data; a missing, malformed or rejected
/// token is a 401 problem with `WWW-Authenticate`.
#[derive(poem_openapi::SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub UserId);

async fn check_bearer(
    req: &poem::Request,
    bearer: poem_openapi::auth::Bearer,
) -> poem::Result<UserId> {
    let verifier = req
        .data::<std::sync::Arc<TokenVerifier>>()
        .expect("the token verifier is attached to every authenticated route");
    verifier.verify(&bearer.token).map_err(|e| {
        tracing::debug!(error = %e, "rejected access token");
        unauthorized("the access token is invalid or expired")
    })
}

/// A 401 problem response as a poem error.
pub fn unauthorized(detail: &str) -> poem::Error {
    let mut response =
        crate::problem::Problem::new(poem::http::StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        poem::http::header::WWW_AUTHENTICATE,
        poem::http::HeaderValue::from_static("Bearer realm=\"microblog\""),
    );
    poem::Error::from_response(response)
}
