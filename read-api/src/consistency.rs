//! Read-your-writes: a request carrying a `Consistency-Token` (as returned
//! by a write) waits until the projector has processed that write's event,
//! for at most the configured bound; past it the request is answered with
//! what the read model has, marked `Consistency-Token-Timeout: true`.

use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};
use shared::consistency::ConsistencyToken;
use shared::readmodel::cache::HotCache;

pub const TIMEOUT_HEADER: &str = "Consistency-Token-Timeout";

/// How often a waiting request checks for its event.
const POLL: Duration = Duration::from_millis(10);

pub async fn wait_for_token<E: Endpoint>(
    ep: E,
    req: Request,
    cache: HotCache,
    bound: Duration,
) -> poem::Result<Response> {
    let header = req
        .headers()
        .get(ConsistencyToken::HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let Some(text) = header else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let token = ConsistencyToken::decode(&text).map_err(|e| {
        poem::Error::from_string(format!("Consistency-Token: {e}"), StatusCode::BAD_REQUEST)
    })?;
    let mut timed_out = false;
    if let Some(event) = token.event() {
        let started = Instant::now();
        loop {
            match cache.is_applied(event).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot check a consistency token"),
            }
            if started.elapsed() >= bound {
                timed_out = true;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        metrics::histogram!("read_consistency_wait_seconds")
            .record(started.elapsed().as_secs_f64());
    }
    let mut response = ep.call(req).await.map(IntoResponse::into_response)?;
    if timed_out {
        metrics::counter!("read_consistency_timeouts_total").increment(1);
        response
            .headers_mut()
            .insert(TIMEOUT_HEADER, poem::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}
