//! Who is calling a Mastodon route: the bearer token from the
//! `Authorization` header or, as Mastodon also accepts, the
//! `access_token` query parameter, checked like every access token
//! (signature, claims, revoked sessions: see `platform::auth`).

use std::sync::Arc;

use contracts::ids::UserId;
use platform::auth::{Principal, RevokedSessions, TokenVerifier};
use platform::scopes::Scopes;
use poem::{FromRequest, Request, RequestBody};

use crate::errors::MastodonError;

/// A signed-in caller and the scopes its token holds; a route taking it
/// answers 401 without one, and 403 unless the token holds the route's
/// scope ([`Caller::require`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub UserId, pub Scopes);

impl Caller {
    /// The caller, if the token holds `scope` (or a broader one).
    pub fn require(self, scope: &str) -> Result<UserId, MastodonError> {
        if self.1.allows(scope) {
            Ok(self.0)
        } else {
            Err(MastodonError::forbidden(
                "This action is outside the authorized scopes",
            ))
        }
    }
}

/// A caller when a valid token came, else anonymous (public routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeCaller(pub Option<UserId>);

/// The bearer token a request carries, if any: in `Authorization`, the
/// `access_token` parameter, or (a WebSocket upgrade, as masto.js sends
/// it) `Sec-WebSocket-Protocol`.
pub fn bearer_token(req: &Request) -> Option<String> {
    if let Some(token) = req.header(poem::http::header::AUTHORIZATION).and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) {
        return Some(token.trim().to_owned());
    }
    let from_query = req.uri().query().and_then(|query| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    let upgrade = req
        .header(poem::http::header::UPGRADE)
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    from_query.or_else(|| {
        upgrade
            .then(|| req.header("sec-websocket-protocol"))
            .flatten()
            .and_then(|p| p.split(',').map(str::trim).find(|p| !p.is_empty()))
            .map(str::to_owned)
    })
}

async fn verify(req: &Request, token: &str) -> Result<Principal, MastodonError> {
    let verifier = req
        .data::<Arc<TokenVerifier>>()
        .expect("the token verifier is attached to every service");
    let revoked = req
        .data::<Arc<dyn RevokedSessions>>()
        .expect("the revoked sessions are attached to every service");
    match verifier.authenticate(token, revoked.as_ref()).await {
        Ok(principal) => Ok(principal),
        Err(e) if e.status() == poem::http::StatusCode::SERVICE_UNAVAILABLE => Err(
            MastodonError::new(e.status(), "cannot check the access token now; retry later"),
        ),
        Err(_) => Err(MastodonError::unauthorized("The access token is invalid")),
    }
}

impl<'a> FromRequest<'a> for Caller {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let token = bearer_token(req)
            .ok_or_else(|| MastodonError::unauthorized("The access token is invalid"))?;
        let principal = verify(req, &token).await?;
        Ok(Self(principal.user, principal.scopes))
    }
}

impl<'a> FromRequest<'a> for MaybeCaller {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        match bearer_token(req) {
            Some(token) => Ok(Self(verify(req, &token).await.ok().map(|p| p.user))),
            None => Ok(Self(None)),
        }
    }
}
