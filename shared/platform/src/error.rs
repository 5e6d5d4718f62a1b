//! The one API error type of both hosts: every failure a handler returns,
//! with its status code and problem+json body. Server-side details are
//! logged, never sent.

use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use crate::problem::{FieldError, Problem};

#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed (a bad parameter, cursor or body).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The target does not exist.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with existing data.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request is well-formed but some fields are invalid.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// The body is larger than the host accepts (`MAX_BODY_BYTES`). Sent by
    /// the body limit before any handler runs.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not `application/json`. Sent by the request parser
    /// before any handler runs.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Too many attempts; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// The server failed.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency is unavailable or busy; retry after `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            Json(Problem::new(StatusCode::UNAUTHORIZED, detail)),
            "Bearer realm=\"microblog\"".to_owned(),
        )
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::TooManyRequests(
            Json(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many attempts; retry in {retry_after_secs} s"),
            )),
            retry_after_secs,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, detail)))
    }

    /// A 400 naming the one parameter at fault.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest(Json(
            Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"))
                .with_errors(vec![FieldError::new(field, message)]),
        ))
    }

    pub fn conflict(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Conflict(Json(
            Problem::new(StatusCode::CONFLICT, detail).with_errors(errors),
        ))
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = format!("{} field(s) are invalid", errors.len());
        Self::Invalid(Json(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_errors(errors),
        ))
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// A 500; `cause` is logged.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::Internal(Json(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not complete the request",
        )))
    }

    /// A 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::Unavailable(
            Json(Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail)),
            retry_after_secs,
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if crate::pg::is_timeout(&err) {
            tracing::warn!(error = %err, "database wait timed out");
            return Self::unavailable("the database is busy; retry shortly", 1);
        }
        if matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolClosed) {
            tracing::error!(error = %err, "database unavailable");
            return Self::unavailable("the database is unavailable; retry later", 5);
        }
        Self::internal(&err)
    }
}
