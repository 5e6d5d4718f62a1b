//! The read API's one error type.

use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use shared::problem::{FieldError, Problem};
use shared::readmodel::StoreError;

#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed (bad `limit`, bad `cursor`, ...).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// No such resource.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The read model cannot be reached; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

impl ApiError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, detail)))
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest(Json(
            Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {message}")).with_errors(vec![
                FieldError {
                    field: field.to_owned(),
                    message,
                },
            ]),
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "read model unavailable");
        Self::Unavailable(Json(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the feed is temporarily unavailable; retry later",
        )))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
