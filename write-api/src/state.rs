//! What every handler needs: the write API's state.

use sqlx::PgPool;

use crate::client_addr::{self, TrustedProxies};
use crate::passwords::PasswordHasherPool;
use crate::recent_writes::RecentWrites;
use crate::sessions::SessionPolicy;
use crate::throttle::{LoginThrottle, RateLimit, WriteLimits};
use crate::tokens::TokenIssuer;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub hasher: PasswordHasherPool,
    pub issuer: TokenIssuer,
    pub sessions: SessionPolicy,
    pub throttle: LoginThrottle,
    pub registrations: RateLimit,
    /// OAuth applications per client address.
    pub apps: RateLimit,
    pub writes: WriteLimits,
    pub trusted_proxies: TrustedProxies,
    pub celebrity_threshold: i64,
    /// Where Mastodon commands leave their events for read-your-writes.
    pub recent_writes: RecentWrites,
}

impl AppState {
    /// The key the request's client is rate-limited under (see [`client_addr`]).
    pub fn client_key(&self, req: &poem::Request) -> String {
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip())
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        client_addr::rate_key(self.trusted_proxies.client(peer, forwarded))
    }
}
