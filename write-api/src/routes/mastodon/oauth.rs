//! OAuth routes: applications, the token endpoint, revocation, the
//! authorization form and the server's metadata.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mastodon::entities::{Application, Token};
use mastodon::errors::MastodonError;
use mastodon::html::escape;
use mastodon::paging::origin;
use mastodon::params::Params;
use poem::http::StatusCode;
use poem::web::{Data, Html, Json, Redirect};
use poem::{IntoResponse, Request, Response, handler};

use super::api;
use crate::oauth::{self, App, Grant, Issued, NewApp, OAuthError};
use crate::state::AppState;

fn application(app: &App, secret: Option<String>) -> Application {
    Application {
        id: app.id.to_string(),
        name: app.name.clone(),
        website: app.website.clone(),
        scopes: app.scopes.split(' ').map(str::to_owned).collect(),
        redirect_uri: app.redirect_uris.join("\n"),
        redirect_uris: app.redirect_uris.clone(),
        client_id: secret.as_ref().map(|_| app.client_id.clone()),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        vapid_key: String::new(),
    }
}

fn token_body(issued: Issued) -> Json<Token> {
    Json(Token {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        scope: issued.scopes,
        created_at: issued.created_at.timestamp(),
    })
}

fn oauth_error(e: OAuthError) -> poem::Error {
    match e {
        OAuthError::InvalidClient => MastodonError::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        )
        .into(),
        OAuthError::InvalidGrant(why) => {
            MastodonError::oauth(StatusCode::BAD_REQUEST, "invalid_grant", why).into()
        }
        OAuthError::Db(e) => api(e.into()),
    }
}

/// `POST /api/v1/apps`: registers a client application.
#[handler]
pub async fn create_app(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    params: Params,
) -> poem::Result<Json<Application>> {
    let name = params
        .text("client_name")
        .ok_or_else(|| MastodonError::unprocessable("client_name can't be blank"))?;
    if name.chars().count() > oauth::MAX_APP_NAME {
        return Err(MastodonError::unprocessable(format!(
            "client_name is too long (maximum is {} characters)",
            oauth::MAX_APP_NAME
        ))
        .into());
    }
    let redirect_uris: Vec<String> = params
        .all("redirect_uris")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if redirect_uris.is_empty() {
        return Err(MastodonError::unprocessable("redirect_uris can't be blank").into());
    }
    if redirect_uris.len() > oauth::MAX_REDIRECT_URIS {
        return Err(MastodonError::unprocessable(format!(
            "redirect_uris: at most {} may be registered",
            oauth::MAX_REDIRECT_URIS
        ))
        .into());
    }
    if let Some(bad) = redirect_uris.iter().find(|u| !oauth::valid_redirect_uri(u)) {
        return Err(MastodonError::unprocessable(format!(
            "redirect_uris must be absolute URIs: {bad}"
        ))
        .into());
    }
    let scopes = oauth::normalize_scopes(&params.all("scopes"))
        .map_err(|s| MastodonError::unprocessable(format!("scopes: unknown scope {s}")))?;
    let website = params.text("website").map(str::to_owned);
    if website.as_ref().is_some_and(|w| w.len() > oauth::MAX_URI) {
        return Err(MastodonError::unprocessable("website is too long").into());
    }
    state
        .apps
        .admit(&state.db, &state.client_key(req))
        .await
        .map_err(api)?;
    let new = NewApp {
        name: name.to_owned(),
        website,
        redirect_uris,
        scopes,
    };
    let (app, secret) = oauth::create_app(&state.db, &new)
        .await
        .map_err(|e| api(e.into()))?;
    Ok(Json(application(&app, Some(secret))))
}

/// `GET /api/v1/apps/verify_credentials`: the application a token belongs to.
#[handler]
pub async fn verify_app(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
) -> poem::Result<Json<Application>> {
    let token = mastodon::auth::bearer_token(req)
        .ok_or_else(|| MastodonError::unauthorized("The access token is invalid"))?;
    let owner = oauth::token_owner(&state.db, &token)
        .await
        .map_err(|e| api(e.into()))?;
    let (app, _) =
        owner.ok_or_else(|| MastodonError::unauthorized("The access token is invalid"))?;
    Ok(Json(application(&app, None)))
}

/// The client's id and secret, from the parameters or HTTP Basic auth.
fn client_credentials(req: &Request, params: &Params) -> Option<(String, Option<String>)> {
    if let Some((id, secret)) = req
        .header(poem::http::header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
    {
        return Some((id, Some(secret)));
    }
    let id = params.text("client_id")?.to_owned();
    Some((id, params.text("client_secret").map(str::to_owned)))
}

/// The scopes a request asks for (the application's when it names none),
/// if known and within the application's.
fn requested_scopes(params: &Params, app: &App) -> Result<String, MastodonError> {
    let invalid = |why: String| MastodonError::oauth(StatusCode::BAD_REQUEST, "invalid_scope", why);
    let asked = params.all("scope");
    let scopes = if asked.is_empty() {
        app.scopes.clone()
    } else {
        oauth::normalize_scopes(&asked).map_err(|s| invalid(format!("unknown scope {s}")))?
    };
    if !oauth::scopes_within(&scopes, &app.scopes) {
        return Err(invalid(
            "the requested scope exceeds the application's".into(),
        ));
    }
    Ok(scopes)
}

/// `POST /oauth/token`: the password, authorization-code and client
/// credentials grants.
#[handler]
pub async fn issue_token(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    params: Params,
) -> poem::Result<Json<Token>> {
    let grant = params.text("grant_type").unwrap_or_default();
    let (client_id, secret) =
        client_credentials(req, &params).ok_or_else(|| oauth_error(OAuthError::InvalidClient))?;
    let app = oauth::client(&state.db, &client_id, secret.as_deref())
        .await
        .map_err(oauth_error)?;
    let authenticated = secret.is_some();
    let scopes = requested_scopes(&params, &app)?;
    match grant {
        "password" => {
            if !authenticated {
                return Err(oauth_error(OAuthError::InvalidClient));
            }
            let login = params.text("username").unwrap_or_default();
            let password = params.get("password").unwrap_or_default();
            let client = state.client_key(req);
            let user = crate::flows::check_password(state, &client, login, password)
                .await
                .map_err(|e| {
                    if e.status() == StatusCode::UNAUTHORIZED {
                        MastodonError::oauth(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
                        )
                        .into()
                    } else {
                        api(e)
                    }
                })?;
            let mut conn = state.db.acquire().await.map_err(|e| api(e.into()))?;
            let issued = oauth::issue_user_token(&mut conn, &state.issuer, &app, user, &scopes)
                .await
                .map_err(|e| api(e.into()))?;
            Ok(token_body(issued))
        }
        "authorization_code" => {
            let code = params.text("code").unwrap_or_default();
            let redirect_uri = params.text("redirect_uri").unwrap_or_default();
            let issued = oauth::redeem_code(
                &state.db,
                &state.issuer,
                &app,
                authenticated,
                code,
                redirect_uri,
                params.text("code_verifier"),
            )
            .await
            .map_err(oauth_error)?;
            Ok(token_body(issued))
        }
        "client_credentials" => {
            if !authenticated {
                return Err(oauth_error(OAuthError::InvalidClient));
            }
            let issued = oauth::issue_app_token(&state.db, &app, &scopes)
                .await
                .map_err(|e| api(e.into()))?;
            Ok(token_body(issued))
        }
        _ => Err(MastodonError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password, authorization_code or client_credentials",
        )
        .into()),
    }
}

/// `POST /oauth/revoke`: revokes a token of the calling client.
#[handler]
pub async fn revoke(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    params: Params,
) -> poem::Result<Json<serde_json::Value>> {
    let (client_id, secret) =
        client_credentials(req, &params).ok_or_else(|| oauth_error(OAuthError::InvalidClient))?;
    let app = oauth::client(&state.db, &client_id, secret.as_deref())
        .await
        .map_err(oauth_error)?;
    let token = params.text("token").ok_or_else(|| {
        MastodonError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        )
    })?;
    oauth::revoke(&state.db, &app, token)
        .await
        .map_err(|e| api(e.into()))?;
    Ok(Json(serde_json::json!({})))
}

/// An authorization request's parameters, checked against its client.
struct Authorization {
    app: App,
    redirect_uri: String,
    scopes: String,
    state: Option<String>,
    code_challenge: Option<String>,
}

async fn authorization(state: &AppState, params: &Params) -> poem::Result<Authorization> {
    if params.text("response_type") != Some("code") {
        return Err(MastodonError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be code",
        )
        .into());
    }
    let client_id = params.text("client_id").unwrap_or_default();
    let app = oauth::client(&state.db, client_id, None)
        .await
        .map_err(oauth_error)?;
    let redirect_uri = params
        .text("redirect_uri")
        .map(str::to_owned)
        .or_else(|| (app.redirect_uris.len() == 1).then(|| app.redirect_uris[0].clone()))
        .unwrap_or_default();
    if !app.redirect_uris.contains(&redirect_uri) {
        return Err(MastodonError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uri is not one the application registered",
        )
        .into());
    }
    let scopes = requested_scopes(params, &app)?;
    let code_challenge = match (
        params.text("code_challenge"),
        params.text("code_challenge_method"),
    ) {
        (None, _) => None,
        (Some(challenge), Some("S256")) if (43..=128).contains(&challenge.len()) => {
            Some(challenge.to_owned())
        }
        _ => {
            return Err(MastodonError::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "code_challenge must be an S256 challenge (code_challenge_method=S256)",
            )
            .into());
        }
    };
    Ok(Authorization {
        app,
        redirect_uri,
        scopes,
        state: params.text("state").map(str::to_owned),
        code_challenge,
    })
}

/// A page of the authorization flow. It asks for a password, so no other
/// site may frame it, it loads nothing, and its address (which may carry
/// a code) is not sent on as a referrer.
fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main>{body}</main></body></html>"
    ))
    .with_header("X-Frame-Options", "DENY")
    .with_header(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    )
    .with_header("Referrer-Policy", "no-referrer")
    .into_response()
}

fn login_form(auth: &Authorization, params: &Params, error: Option<&str>) -> Response {
    let hidden: String = [
        ("response_type", Some("code")),
        ("client_id", Some(auth.app.client_id.as_str())),
        ("redirect_uri", Some(auth.redirect_uri.as_str())),
        ("scope", Some(auth.scopes.as_str())),
        ("state", auth.state.as_deref()),
        ("code_challenge", auth.code_challenge.as_deref()),
        (
            "code_challenge_method",
            auth.code_challenge.as_ref().map(|_| "S256"),
        ),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            )
        })
    })
    .collect();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let login = escape(params.text("username").unwrap_or_default());
    page(
        "Authorize",
        &format!(
            "<h1>Authorize {app}</h1><p>{app} asks for: {scopes}.</p>{error}\
             <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
             <label>Username or email <input name=\"username\" autocomplete=\"username\" value=\"{login}\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Authorize</button></form>",
            app = escape(&auth.app.name),
            scopes = escape(&auth.scopes),
        ),
    )
}

/// `GET /oauth/authorize`: the login form that approves the request.
#[handler]
pub async fn authorize_form(
    Data(state): Data<&Arc<AppState>>,
    params: Params,
) -> poem::Result<Response> {
    let auth = authorization(state, &params).await?;
    Ok(login_form(&auth, &params, None))
}

/// `POST /oauth/authorize`: checks the credentials, then sends the code
/// to the redirect URI, or shows it for the out-of-band URI.
#[handler]
pub async fn authorize(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    params: Params,
) -> poem::Result<Response> {
    let auth = authorization(state, &params).await?;
    let login = params.text("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let client = state.client_key(req);
    let user = match crate::flows::check_password(state, &client, login, password).await {
        Ok(user) => user,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            let mut form = login_form(&auth, &params, Some("The username or password is wrong."));
            form.set_status(StatusCode::UNAUTHORIZED);
            return Ok(form);
        }
        Err(e) => return Err(api(e)),
    };
    let code = oauth::create_code(
        &state.db,
        &Grant {
            app: &auth.app,
            user,
            redirect_uri: &auth.redirect_uri,
            scopes: &auth.scopes,
            code_challenge: auth.code_challenge.as_deref(),
        },
    )
    .await
    .map_err(|e| api(e.into()))?;
    if auth.redirect_uri == oauth::OUT_OF_BAND {
        let body = format!(
            "<h1>Authorization code</h1><p>Copy this code and paste it into {}:</p>\
             <input readonly id=\"code\" value=\"{}\">",
            escape(&auth.app.name),
            escape(&code)
        );
        return Ok(page("Authorization code", &body));
    }
    let mut query = vec![("code", code.as_str())];
    if let Some(s) = auth.state.as_deref() {
        query.push(("state", s));
    }
    let separator = if auth.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let target = format!(
        "{}{separator}{}",
        auth.redirect_uri,
        serde_urlencoded::to_string(&query).unwrap_or_default()
    );
    Ok(Redirect::see_other(target).into_response())
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): Mastodon.py
/// uses the password grant only when it is listed here.
#[handler]
pub fn server_metadata(req: &Request) -> Json<serde_json::Value> {
    let origin = origin(req);
    Json(serde_json::json!({
        "issuer": format!("{origin}/"),
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": format!("{origin}/oauth/authorize"),
        "token_endpoint": format!("{origin}/oauth/token"),
        "revocation_endpoint": format!("{origin}/oauth/revoke"),
        "app_registration_endpoint": format!("{origin}/api/v1/apps"),
        "scopes_supported": ["read", "write", "follow", "push", "profile",
            "read:accounts", "read:favourites", "read:follows", "read:notifications",
            "read:statuses", "write:accounts", "write:favourites", "write:follows",
            "write:statuses"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "password", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}
