//! OAuth 2 for the Mastodon-compatible API: client applications, the
//! authorization-code grant (with PKCE), the password and client
//! credentials grants, and revocation.
//!
//! A user's access token is an access JWT like the native API's, but long
//! lived (Mastodon's never expire, and no Mastodon client refreshes) and
//! bound to a session of its own, recorded in `oauth_tokens`. Revoking it
//! revokes that session ([`crate::sessions::revoke`]), which every host
//! refuses from then on. An application's own token (client credentials)
//! is opaque, stored as a hash, and good only for registering accounts.
//!
//! Client secrets, codes and application tokens are 256 random bits,
//! shown once and stored as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use contracts::ids::UserId;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::tokens::{TokenIssuer, new_secret, refresh_token_hash};

/// The redirect URI of clients that show the code to the user to paste.
pub const OUT_OF_BAND: &str = "urn:ietf:wg:oauth:2.0:oob";

/// How long an OAuth access token lives: in effect until revoked.
pub const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::days(3650);

/// How long an authorization code may wait to be exchanged.
pub const CODE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// Limits of an application's registration.
pub const MAX_APP_NAME: usize = 60;
pub const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_URI: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The client is unknown or its secret is wrong.
    #[error("client authentication failed")]
    InvalidClient,
    /// The code, token or credentials are wrong, spent or expired.
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A registered application.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct App {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: String,
}

/// What `POST /api/v1/apps` asks for, checked.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: String,
}

/// Checks a scope list: known scopes only, `read` when none is given.
/// Returns the normalized space-separated list or the unknown scope.
pub fn normalize_scopes(scopes: &[&str]) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for scope in scopes {
        if !platform::scopes::KNOWN.contains(scope) {
            return Err((*scope).to_owned());
        }
        if !out.contains(scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        out.push("read");
    }
    Ok(out.join(" "))
}

/// Whether every scope of `asked` is granted by `allowed` (`read` grants
/// `read:statuses`).
pub fn scopes_within(asked: &str, allowed: &str) -> bool {
    let Ok(allowed) = platform::scopes::Scopes::parse(allowed) else {
        return false;
    };
    asked.split_whitespace().all(|scope| allowed.allows(scope))
}

/// A redirect URI an application may register: the out-of-band URN, or
/// an absolute URI without a fragment (an app's own scheme included).
pub fn valid_redirect_uri(uri: &str) -> bool {
    if uri == OUT_OF_BAND {
        return true;
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    uri.len() <= MAX_URI
        && !rest.is_empty()
        && !uri.contains('#')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Registers an application; returns it with its client secret.
pub async fn create_app(db: &PgPool, app: &NewApp) -> Result<(App, String), sqlx::Error> {
    let (client_id, _) = new_secret();
    let (secret, secret_hash) = new_secret();
    let created: App = sqlx::query_as(
        "INSERT INTO oauth_apps (client_id, client_secret_hash, name, website, redirect_uris, scopes)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, client_id, name, website, redirect_uris, scopes",
    )
    .bind(&client_id)
    .bind(secret_hash)
    .bind(&app.name)
    .bind(&app.website)
    .bind(&app.redirect_uris)
    .bind(&app.scopes)
    .fetch_one(db)
    .await?;
    Ok((created, secret))
}

/// The application `client_id` names; with a `secret`, only if it matches.
/// A public client (PKCE) may leave the secret out.
pub async fn client(db: &PgPool, client_id: &str, secret: Option<&str>) -> Result<App, OAuthError> {
    let row: Option<(App, Vec<u8>)> = sqlx::query_as::<
        _,
        (
            i64,
            String,
            String,
            Option<String>,
            Vec<String>,
            String,
            Vec<u8>,
        ),
    >(
        "SELECT id, client_id, name, website, redirect_uris, scopes, client_secret_hash
         FROM oauth_apps WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(db)
    .await?
    .map(
        |(id, client_id, name, website, redirect_uris, scopes, hash)| {
            (
                App {
                    id,
                    client_id,
                    name,
                    website,
                    redirect_uris,
                    scopes,
                },
                hash,
            )
        },
    );
    let Some((app, hash)) = row else {
        return Err(OAuthError::InvalidClient);
    };
    match secret {
        Some(secret) if refresh_token_hash(secret) != hash => Err(OAuthError::InvalidClient),
        _ => Ok(app),
    }
}

/// A token just issued, as the token endpoint returns it.
pub struct Issued {
    pub access_token: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
}

/// Issues `user` a token for `app`.
pub async fn issue_user_token(
    conn: &mut PgConnection,
    issuer: &TokenIssuer,
    app: &App,
    user: UserId,
    scopes: &str,
) -> Result<Issued, sqlx::Error> {
    let session = Uuid::new_v4();
    let created_at = Utc::now();
    let expires_at = created_at + TOKEN_LIFETIME;
    let access_token =
        issuer.access_token_until(user, session, expires_at.timestamp(), Some(scopes));
    sqlx::query(
        "INSERT INTO oauth_tokens (session_id, app_id, user_id, token_hash, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(session)
    .bind(app.id)
    .bind(user.0)
    .bind(refresh_token_hash(&access_token))
    .bind(scopes)
    .bind(created_at)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(Issued {
        access_token,
        scopes: scopes.to_owned(),
        created_at,
    })
}

/// Issues `app` a token of its own (client credentials).
pub async fn issue_app_token(db: &PgPool, app: &App, scopes: &str) -> Result<Issued, sqlx::Error> {
    let (access_token, hash) = new_secret();
    let created_at = Utc::now();
    sqlx::query(
        "INSERT INTO oauth_tokens (session_id, app_id, token_hash, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(app.id)
    .bind(hash)
    .bind(scopes)
    .bind(created_at)
    .bind(created_at + TOKEN_LIFETIME)
    .execute(db)
    .await?;
    Ok(Issued {
        access_token,
        scopes: scopes.to_owned(),
        created_at,
    })
}

/// The application and, for a user's token, the user a live token
/// belongs to.
pub async fn token_owner(
    db: &PgPool,
    token: &str,
) -> Result<Option<(App, Option<UserId>)>, sqlx::Error> {
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT app_id, user_id FROM oauth_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(refresh_token_hash(token))
    .fetch_optional(db)
    .await?;
    let Some((app_id, user)) = row else {
        return Ok(None);
    };
    let app: App = sqlx::query_as(
        "SELECT id, client_id, name, website, redirect_uris, scopes FROM oauth_apps WHERE id = $1",
    )
    .bind(app_id)
    .fetch_one(db)
    .await?;
    Ok(Some((app, user.map(UserId))))
}

/// Revokes `token` if `app` holds it; an unknown token is not an error
/// (RFC 7009 §2.2).
pub async fn revoke(db: &PgPool, app: &App, token: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let revoked: Option<(Uuid, Option<i64>, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE oauth_tokens SET revoked_at = now()
         WHERE token_hash = $1 AND app_id = $2 AND revoked_at IS NULL
         RETURNING session_id, user_id, expires_at",
    )
    .bind(refresh_token_hash(token))
    .bind(app.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((session, Some(user), expires_at)) = revoked {
        let until = expires_at + chrono::Duration::seconds(platform::auth::LEEWAY_SECS as i64);
        crate::sessions::revoke(&mut tx, session, UserId(user), until).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An authorization request the user approved.
pub struct Grant<'a> {
    pub app: &'a App,
    pub user: UserId,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    /// PKCE: the S256 challenge, if the client sent one.
    pub code_challenge: Option<&'a str>,
}

/// A new authorization code for `grant`.
pub async fn create_code(db: &PgPool, grant: &Grant<'_>) -> Result<String, sqlx::Error> {
    let (code, hash) = new_secret();
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, app_id, user_id, redirect_uri, scopes, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(hash)
    .bind(grant.app.id)
    .bind(grant.user.0)
    .bind(grant.redirect_uri)
    .bind(grant.scopes)
    .bind(grant.code_challenge)
    .bind(CODE_LIFETIME.num_seconds() as f64)
    .execute(db)
    .await?;
    Ok(code)
}

/// The S256 PKCE challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Spends `code` and issues its token, if the code is `app`'s, live,
/// unspent, sent with the same redirect URI and, when it was bound to a
/// PKCE challenge, with the matching verifier. A public client (no
/// secret) must use PKCE. Any attempt spends the code.
pub async fn redeem_code(
    db: &PgPool,
    issuer: &TokenIssuer,
    app: &App,
    authenticated: bool,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<Issued, OAuthError> {
    let mut tx = db.begin().await?;
    type Row = (i64, String, String, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "UPDATE oauth_codes SET used_at = now()
         WHERE code_hash = $1 AND app_id = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, redirect_uri, scopes, code_challenge",
    )
    .bind(refresh_token_hash(code))
    .bind(app.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user, expected_uri, scopes, challenge)) = row else {
        return Err(OAuthError::InvalidGrant(
            "the authorization code is unknown, spent or expired",
        ));
    };
    let refused = if expected_uri != redirect_uri {
        Some(OAuthError::InvalidGrant(
            "redirect_uri differs from the authorization request's",
        ))
    } else {
        match (challenge, verifier) {
            (Some(challenge), Some(verifier)) if pkce_challenge(verifier) == challenge => None,
            (Some(_), _) => Some(OAuthError::InvalidGrant(
                "code_verifier does not match the code challenge",
            )),
            (None, _) if !authenticated => Some(OAuthError::InvalidClient),
            (None, _) => None,
        }
    };
    if let Some(refused) = refused {
        // A refused attempt spends the code too, so a stolen code cannot
        // be tried against guessed verifiers.
        tx.commit().await?;
        return Err(refused);
    }
    let issued = issue_user_token(&mut tx, issuer, app, UserId(user), &scopes).await?;
    tx.commit().await?;
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_and_defaulted() {
        assert_eq!(normalize_scopes(&[]).unwrap(), "read");
        assert_eq!(
            normalize_scopes(&["read", "write", "read", "read:statuses"]).unwrap(),
            "read write read:statuses"
        );
        assert_eq!(normalize_scopes(&["admin:read"]).unwrap_err(), "admin:read");
        assert!(scopes_within("read:statuses write", "read write follow"));
        assert!(!scopes_within("follow", "read write"));
    }

    #[test]
    fn redirect_uris() {
        for good in [
            OUT_OF_BAND,
            "https://app.example/cb",
            "tusky://oauth",
            "http://localhost:4000/x?y=1",
        ] {
            assert!(valid_redirect_uri(good), "{good}");
        }
        for bad in [
            "",
            "nocolon",
            "https://a/b#frag",
            "https://a/ b",
            "1http://x",
            "https:",
        ] {
            assert!(!valid_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn pkce_matches_the_rfc_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
