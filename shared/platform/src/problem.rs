//! `application/problem+json` bodies (RFC 9457), the one error shape of the
//! public API, and the fallback that turns every error poem produces outside
//! our handlers (unknown route, wrong method, body too large) into one.

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Response};
use poem_openapi::Object;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldError {
    /// The field's name as the client sent it (`body.username`, `query.limit`, ...).
    pub field: String,
    pub message: String,
}

/// An error response body.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(example)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation errors: every field that was wrong.
    #[oai(skip_serializing_if_is_empty, default)]
    pub errors: Vec<FieldError>,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let slug = title.to_lowercase().replace(' ', "-");
        Self {
            kind: format!("https://microblog.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = poem_openapi::types::ToJSON::to_json_string(&self);
        Response::builder()
            .status(status)
            .content_type(CONTENT_TYPE)
            .body(body)
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "1 field is invalid").with_errors(vec![
            FieldError::new("username", "must be 3-30 characters of a-z, 0-9 and _"),
        ])
    }
}

/// Renders every error response that is not already problem+json as one:
/// extractor failures (bad JSON, bad parameters, a missing bearer token)
/// name the field at fault; poem's plain-text 404, 405 and 413 keep their
/// status and headers. Server-side details are logged, never sent.
pub async fn render_errors<E: Endpoint>(
    ep: E,
    req: poem::Request,
    routes: crate::routes::RouteTemplates,
) -> poem::Result<Response> {
    let (method, path) = (
        req.method().as_str().to_owned(),
        req.uri().path().to_owned(),
    );
    let name_of = |index: usize| routes.path_variable(&method, &path, index);
    let response = match ep.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => match classify_extractor_error(&err, name_of) {
            Some(ExtractorFailure::Unauthenticated) => {
                unauthorized("a bearer access token is required").into_response()
            }
            Some(ExtractorFailure::BadRequest(problem)) => problem.into_response(),
            None => {
                if err.status().is_server_error() {
                    tracing::error!(error = %err, "request failed");
                }
                err.into_response()
            }
        },
    };
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    // JSON errors are already shaped for their clients (the Mastodon
    // API's `{"error": …}`).
    let is_problem = response
        .content_type()
        .is_some_and(|ct| ct.starts_with(CONTENT_TYPE) || ct.starts_with("application/json"));
    if !is_error || is_problem {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let detail = if status.is_server_error() {
        "the server could not complete the request".to_owned()
    } else {
        body.into_string().await.unwrap_or_default()
    };
    let mut problem = Problem::new(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != poem::http::header::CONTENT_TYPE && name != poem::http::header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(problem)
}

/// What an extractor failure (bad JSON body, bad path, query or header
/// value, missing bearer token) means for the client.
enum ExtractorFailure {
    /// No usable credentials: answer 401.
    Unauthenticated,
    /// A 400 problem naming the field.
    BadRequest(Problem),
}

/// Classifies an error raised before a handler ran; `None` for other
/// errors. poem-openapi names path variables `param0`, `param1`, …;
/// `path_variable` gives the documented name of each.
fn classify_extractor_error(
    err: &poem::Error,
    path_variable: impl Fn(usize) -> Option<String>,
) -> Option<ExtractorFailure> {
    use poem_openapi::error::{
        AuthorizationError, ParseParamError, ParsePathError, ParseRequestPayloadError,
    };
    if err.is::<AuthorizationError>() {
        return Some(ExtractorFailure::Unauthenticated);
    }
    let (field, message) = if let Some(e) = err.downcast_ref::<ParsePathError>() {
        let documented = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(&path_variable);
        (
            documented.unwrap_or_else(|| e.name.to_owned()),
            e.reason.clone(),
        )
    } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
        (e.name.to_owned(), e.reason.clone())
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        ("body".to_owned(), e.reason.clone())
    } else {
        return None;
    };
    Some(ExtractorFailure::BadRequest(
        Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"))
            .with_errors(vec![FieldError::new(&field, message)]),
    ))
}

/// A 401 problem response as a poem error.
pub fn unauthorized(detail: &str) -> poem::Error {
    let mut response = Problem::new(poem::http::StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        poem::http::header::WWW_AUTHENTICATE,
        poem::http::HeaderValue::from_static("Bearer realm=\"microblog\""),
    );
    poem::Error::from_response(response)
}
