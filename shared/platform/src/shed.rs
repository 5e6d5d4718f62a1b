//! Load shedding: a bound on the requests one process works on at once.
//!
//! Past its capacity a server that admits every request makes every request
//! slow: replies from its stores wait in its own queues until they time out,
//! and the fallbacks those timeouts trigger (a durable read instead of a
//! cache hit) cost more than the work they replace, so the overload feeds
//! itself and outlasts the burst that caused it. Bounding the requests in
//! progress keeps the admitted ones fast; the rest wait briefly for a place
//! and are then answered at once with 503 and `Retry-After`, which costs
//! next to nothing and tells clients (and load balancers) to back off.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tokio::sync::Semaphore;

use crate::problem::Problem;

/// Seconds a shed request is told to wait before it tries again.
pub const RETRY_AFTER_SECS: u64 = 1;

/// At most `max` requests in progress; a request waits up to `queue` for a
/// place, then is shed. As a [`Middleware`] it admits every request to the
/// endpoint it wraps.
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    places: Arc<Semaphore>,
    queue: Duration,
}

impl InFlightLimit {
    pub fn new(max: usize, queue: Duration) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max)),
            queue,
        }
    }

    /// Runs `req` on `ep` once it has a place, or answers 503.
    pub async fn admit<E: Endpoint>(&self, ep: &E, req: Request) -> poem::Result<Response> {
        // A free place is taken without arming a timer.
        let _place = match self.places.try_acquire() {
            Ok(place) => place,
            Err(_) => match tokio::time::timeout(self.queue, self.places.acquire()).await {
                Ok(Ok(place)) => place,
                // The semaphore is never closed; a timeout is the only way here.
                Ok(Err(_)) | Err(_) => return Ok(shed()),
            },
        };
        ep.call(req).await.map(IntoResponse::into_response)
    }
}

impl<E: Endpoint> Middleware<E> for InFlightLimit {
    type Output = Admitted<E>;

    fn transform(&self, inner: E) -> Admitted<E> {
        Admitted {
            inner,
            limit: self.clone(),
        }
    }
}

/// An endpoint behind an [`InFlightLimit`].
pub struct Admitted<E> {
    inner: E,
    limit: InFlightLimit,
}

impl<E: Endpoint> Endpoint for Admitted<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.limit.admit(&self.inner, req).await
    }
}

fn shed() -> Response {
    metrics::counter!("http_requests_shed_total").increment(1);
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is at capacity; retry shortly",
    )
    .into_response();
    response.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from(RETRY_AFTER_SECS),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::{EndpointExt, handler, test::TestClient};

    #[handler]
    fn ok() -> &'static str {
        "done"
    }

    fn client(limit: &InFlightLimit) -> TestClient<impl Endpoint> {
        TestClient::new(ok.with(limit.clone()))
    }

    #[tokio::test]
    async fn a_request_with_no_place_is_shed_with_a_problem_and_retry_after() {
        let limit = InFlightLimit::new(1, Duration::from_millis(10));
        let taken = Arc::clone(&limit.places).try_acquire_owned().unwrap();
        let response = client(&limit).get("/").send().await;
        response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        response.assert_header("retry-after", "1");
        response.assert_content_type("application/problem+json");
        drop(taken);
        client(&limit).get("/").send().await.assert_status_is_ok();
    }

    #[tokio::test]
    async fn a_request_waits_for_a_place_that_frees_within_its_queue_time() {
        let limit = InFlightLimit::new(1, Duration::from_secs(30));
        let taken = Arc::clone(&limit.places).try_acquire_owned().unwrap();
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { client(&limit).get("/").send().await.0.status() }
        });
        // Long enough for the request to queue behind the taken place.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits while the place is taken");
        drop(taken);
        assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    }
}
