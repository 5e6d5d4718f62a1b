//! A JSON response body written straight from its `Serialize`
//! implementation.
//!
//! poem-openapi's `Json` first builds a `serde_json::Value` tree of the
//! whole body (a map and a string per field), then writes the tree; on a
//! page of twenty hydrated items that was a visible share of read-api's
//! CPU. [`TypedJson`] declares the same schema (the body's `Object`) and
//! writes the bytes in one pass. Each body's `Serialize` must match its
//! `Object` output; the tests in [`super::views`] compare the two.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A `200` JSON body with `T`'s schema, serialized without an
/// intermediate tree.
pub struct TypedJson<T>(pub T);

impl<T: Type + Send> Payload for TypedJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for TypedJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            // Only maps with non-string keys fail, and no body has one.
            Err(e) => {
                tracing::error!(error = %e, "a response body did not serialize");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for TypedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
