//! Operational HTTP routes every process serves: `GET /health` (the process
//! is alive), `GET /ready` (its dependencies answer) and `GET /metrics`
//! (Prometheus text), plus the request middleware shared by both APIs.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::routes::RouteTemplates;
use poem::http::StatusCode;
use poem::web::Json;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};

/// A dependency check behind `GET /ready`.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err` says what is not ready, for the log: it may hold a driver's
    /// error text, which is never sent to the client.
    async fn check(&self) -> Result<(), String>;
}

/// Adds the operational routes to `route`.
pub fn attach(route: Route, metrics: PrometheusHandle, readiness: Arc<dyn Readiness>) -> Route {
    route
        .at("/health", get(health))
        .at("/ready", get(ready).data(readiness))
        .at("/metrics", get(render_metrics).data(metrics))
}

#[handler]
fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[handler]
async fn ready(readiness: poem::web::Data<&Arc<dyn Readiness>>) -> Response {
    match readiness.check().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not ready"})),
            )
                .into_response()
        }
    }
}

#[handler]
fn render_metrics(handle: poem::web::Data<&PrometheusHandle>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

/// The `method` label: the standard methods by name, anything else (a
/// client may send any token as a method) as `other`, so the label's values
/// stay few.
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Records `http_requests_total` and `http_request_duration_seconds` by
/// route template, method and status.
pub async fn record_http_metrics<E: Endpoint>(
    ep: E,
    req: Request,
    routes: RouteTemplates,
) -> poem::Result<Response> {
    let method = method_label(req.method()).to_owned();
    let request_method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let labels = [
        ("route", routes.label(&request_method, &path, &response)),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request this task is serving, if any. Commands store it
/// with the events they write, so the relay and the projector log it too.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Whether a client's `X-Request-Id` is kept: the front door's rule (1 to
/// 128 of `A-Za-z0-9._:-`), so an id cannot flood or forge log lines.
pub fn plausible_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Gives every request an id: the client's (or the front door's) when
/// plausible, a fresh one otherwise. It is on every log line written while
/// serving the request (the `request_id` span field), in
/// [`current_request_id`], and in the response's `X-Request-Id`.
pub async fn request_id<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    use tracing::Instrument;
    let id = req
        .header("x-request-id")
        .filter(|id| plausible_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::error_span!("request", request_id = %id);
    let response = REQUEST_ID
        .scope(id.clone(), ep.call(req).instrument(span))
        .await;
    let mut response = match response {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(value) = poem::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

/// Serves `app` on `addr` until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(addr: &str, app: impl Endpoint + 'static) -> std::io::Result<()> {
    let listener = poem::listener::TcpListener::bind(addr);
    poem::Server::new(listener)
        .run_with_graceful_shutdown(
            app,
            shutdown_signal(),
            Some(std::time::Duration::from_secs(10)),
        )
        .await
}

/// For a process whose work is not HTTP (the relay, the projector): serves
/// its operational routes on `addr` in the background. The receiver turns
/// `true` on SIGINT or SIGTERM; abort the task once the work has stopped.
pub fn serve_operations(
    addr: String,
    ops: Route,
) -> (
    tokio::sync::watch::Receiver<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move { serve(&addr, ops).await });
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    (stop_rx, server)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

/// Rejects request bodies over `max_bytes` with 413: by the declared
/// `Content-Length` before reading anything, and by counting while reading
/// a body sent without one. Requests without a body pass untouched.
pub async fn limit_body<E: Endpoint>(
    ep: E,
    mut req: Request,
    max_bytes: usize,
) -> poem::Result<Response> {
    let too_large = || {
        let detail = format!("the request body exceeds {max_bytes} bytes");
        poem::Error::from_response(
            crate::error::ApiError::PayloadTooLarge(poem_openapi::payload::Json(
                crate::problem::Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail),
            ))
            .into_response(),
        )
    };
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_bytes as u64 => return Err(too_large()),
        Some(_) => {}
        None if req
            .headers()
            .contains_key(poem::http::header::TRANSFER_ENCODING) =>
        {
            let body = req
                .take_body()
                .into_bytes_limit(max_bytes)
                .await
                .map_err(|_| too_large())?;
            req.set_body(body);
        }
        None => {}
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Browser access: `CORS_ALLOWED_ORIGINS` is a comma-separated list of
/// origins, or `*` (the default) for any. The API authenticates with bearer
/// tokens, never cookies, so any origin is safe by default. Responses expose
/// the headers clients act on.
pub fn cors_from_env() -> Result<poem::middleware::Cors, crate::config::ConfigError> {
    let origins: String = crate::config::or("CORS_ALLOWED_ORIGINS", "*".to_owned())?;
    let mut cors = poem::middleware::Cors::new()
        .expose_headers([
            "consistency-token",
            "consistency-token-timeout",
            "retry-after",
            "x-request-id",
        ])
        .max_age(600);
    for origin in origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty() && *o != "*")
    {
        cors = cors.allow_origin(origin);
    }
    Ok(cors)
}

/// Around CORS: a request from the opaque origin `null` (sandboxed frames,
/// `file:` pages, some redirects) is served as if it had no origin, so it is
/// never granted access; and every answer says that it varies by `Origin`,
/// so a shared cache never hands one origin's answer to another.
async fn cors_guard<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    use poem::http::header::{ORIGIN, VARY};
    if req
        .headers()
        .get(ORIGIN)
        .is_some_and(|o| o.as_bytes().eq_ignore_ascii_case(b"null"))
    {
        req.headers_mut().remove(ORIGIN);
    }
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let varies = response.headers().get_all(VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("origin"))
    });
    if !varies {
        response
            .headers_mut()
            .append(VARY, poem::http::HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// Headers every response carries: `X-Content-Type-Options: nosniff`, and
/// `Cache-Control: no-store` on answers to authenticated requests, which
/// hold one user's data.
async fn security_headers<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    use poem::http::HeaderValue;
    use poem::http::header::{AUTHORIZATION, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
    let authenticated = req.headers().contains_key(AUTHORIZATION);
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if authenticated && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// Wraps an API with the shared middleware: request ids, metrics by
/// `routes`, security headers, problem+json errors, a request-body limit
/// and CORS.
pub fn with_middleware(
    app: impl Endpoint + 'static,
    max_body_bytes: usize,
    cors: poem::middleware::Cors,
    routes: RouteTemplates,
) -> impl Endpoint {
    let names = routes.clone();
    app.around(move |ep, req| limit_body(ep, req, max_body_bytes))
        .with(cors)
        .around(move |ep, req| crate::problem::render_errors(ep, req, names.clone()))
        .around(cors_guard)
        .around(security_headers)
        .around(move |ep, req| record_http_metrics(ep, req, routes.clone()))
        .around(request_id)
}

#[cfg(test)]
mod tests {
    use super::{method_label, plausible_request_id};

    struct Down;

    #[async_trait::async_trait]
    impl super::Readiness for Down {
        async fn check(&self) -> Result<(), String> {
            Err("database: password authentication failed for user \"secret\"".into())
        }
    }

    #[tokio::test]
    async fn readiness_never_echoes_the_reason() {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let app = super::attach(poem::Route::new(), handle, std::sync::Arc::new(Down));
        let response = poem::test::TestClient::new(app).get("/ready").send().await;
        response.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
        let body = response.0.into_body().into_string().await.unwrap();
        assert_eq!(body, r#"{"status":"not ready"}"#);
    }

    #[test]
    fn made_up_methods_share_one_label() {
        use poem::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["SECPROBEX", &"X".repeat(300), "get"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_plausible() {
        for id in [
            "a",
            "front-door-1",
            "6531b0cdc3fbf3f2",
            "svc:1.2_3",
            &"x".repeat(128),
        ] {
            assert!(plausible_request_id(id), "{id}");
        }
        for id in [
            "",
            "has space",
            "quote\"",
            "new\nline",
            "ü",
            &"x".repeat(129),
        ] {
            assert!(!plausible_request_id(id), "{id:?}");
        }
    }
}
