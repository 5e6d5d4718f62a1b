//! Mastodon's error bodies: `application/json` `{"error": "…"}` (OAuth
//! errors add `error_description`), which every Mastodon client parses
//! and some insist on (masto.js reads only JSON).
//!
//! Handlers return [`MastodonError`]. Errors raised elsewhere (the shared
//! API error type, poem's own, the services' middleware) are problem+json;
//! [`rewrite_errors`] turns those into Mastodon's shape on Mastodon's
//! paths, keeping status and headers (`Retry-After`, `WWW-Authenticate`).

use poem::http::{StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

/// An error answer of the Mastodon API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct MastodonError {
    status: StatusCode,
    message: String,
    /// OAuth's error code (`invalid_grant`, ...), sent as `error` with
    /// the message as `error_description`.
    oauth_code: Option<&'static str>,
}

impl MastodonError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            oauth_code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Record not found")
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// An OAuth error (RFC 6749 §5.2): `code` like `invalid_grant`.
    pub fn oauth(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            message: description.into(),
            oauth_code: Some(code),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn body(&self) -> serde_json::Value {
        match self.oauth_code {
            Some(code) => serde_json::json!({"error": code, "error_description": self.message}),
            None => serde_json::json!({"error": self.message}),
        }
    }
}

impl poem::error::ResponseError for MastodonError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        json_error(self.status, &self.body())
    }
}

fn json_error(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// Whether `path` belongs to the Mastodon API.
pub fn is_mastodon_path(path: &str) -> bool {
    ["/api/", "/oauth/", "/.well-known/", "/nodeinfo/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Middleware for the whole service: on Mastodon's paths, tolerates a
/// trailing slash (Mastodon.py asks for `/api/v1/instance/`) and answers
/// errors in Mastodon's shape.
pub async fn rewrite_errors<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    if !is_mastodon_path(path) {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_owned();
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed,
        };
        if let Ok(uri) = rebuilt.parse() {
            *req.uri_mut() = uri;
        }
    }
    let response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if !is_problem {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = problem_message(&problem, parts.status);
    let mut rewritten = json_error(parts.status, &serde_json::json!({"error": message}));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(rewritten)
}

/// The problem's detail, with each invalid field named as Mastodon's
/// validation errors name them.
fn problem_message(problem: &serde_json::Value, status: StatusCode) -> String {
    let detail = problem
        .get("detail")
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    let fields: Vec<String> = problem
        .get("errors")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let field = e.get("field")?.as_str()?;
            let message = e.get("message")?.as_str()?;
            Some(format!("{field} {message}"))
        })
        .collect();
    if fields.is_empty() {
        detail
    } else {
        format!("Validation failed: {}", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::{EndpointExt, Route, get, handler};

    #[handler]
    fn problem() -> Response {
        Response::builder()
            .status(StatusCode::UNPROCESSABLE_ENTITY)
            .content_type("application/problem+json")
            .header("Retry-After", "3")
            .body(r#"{"detail":"bad","errors":[{"field":"status","message":"must not be empty"}]}"#)
    }

    #[handler]
    fn fine() -> &'static str {
        "ok"
    }

    #[tokio::test]
    async fn problems_become_mastodon_errors_and_slashes_are_tolerated() {
        let app = Route::new()
            .at("/api/v1/problem", get(problem))
            .at("/api/v1/fine", get(fine))
            .at("/v1/problem", get(problem))
            .around(rewrite_errors);
        let client = poem::test::TestClient::new(app);
        let r = client.get("/api/v1/problem/").send().await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        r.assert_header("Retry-After", "3");
        r.assert_content_type("application/json; charset=utf-8");
        r.assert_json(serde_json::json!({"error": "Validation failed: status must not be empty"}))
            .await;
        client
            .get("/api/v1/fine/")
            .send()
            .await
            .assert_text("ok")
            .await;
        let native = client.get("/v1/problem").send().await;
        native.assert_content_type("application/problem+json");
        let missing = client.get("/api/v1/nothing").send().await;
        missing.assert_status(StatusCode::NOT_FOUND);
    }
}
