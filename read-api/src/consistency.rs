//! Read-your-writes: a request carrying a `Consistency-Token` (as returned
//! by a write) waits until the projector has processed that write's event,
//! for at most the configured bound; past it the request is answered with
//! what the read model has, marked `Consistency-Token-Timeout: true`.
//!
//! Waiting is a service to a signed-in reader, so it is bounded three ways:
//! only an authenticated `GET` of one of the API's own read routes waits
//! (anything else is served at once, its token ignored); at most
//! `max_waiters` requests wait per replica (the rest are answered at once,
//! marked like a timeout); and one shared poller checks every pending event
//! in one pipelined round trip per tick, however many requests wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::consistency::ConsistencyToken;
use platform::auth::{RevokedSessions, TokenVerifier};
use platform::routes::RouteTemplates;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use readmodel::cache::HotCache;
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

pub const TIMEOUT_HEADER: &str = "Consistency-Token-Timeout";

tokio::task_local! {
    /// Set while serving a request that carries a write's token: it must
    /// see everything the shared read model holds, so it skips the
    /// replica's own short-lived copies.
    static FOR_A_WRITE: ();
}

/// Whether the request being served carries a write's consistency token.
pub fn reads_for_a_write() -> bool {
    FOR_A_WRITE.try_with(|_| ()).is_ok()
}

/// How often the poller checks the pending events.
const POLL: Duration = Duration::from_millis(10);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    TimedOut,
    /// Too many requests were already waiting: not waited for at all.
    Shed,
}

/// The requests waiting for events, and the one task that wakes them.
pub struct Waiters {
    pending: Mutex<HashMap<Uuid, Vec<oneshot::Sender<()>>>>,
    waiting: AtomicUsize,
    max_waiters: usize,
    work: Notify,
}

/// Counts a waiter for as long as it waits.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Waiters {
    /// Starts the poller on `cache`.
    pub fn start(cache: HotCache, max_waiters: usize) -> Arc<Self> {
        let waiters = Arc::new(Self {
            pending: Mutex::default(),
            waiting: AtomicUsize::new(0),
            max_waiters,
            work: Notify::new(),
        });
        tokio::spawn(Arc::clone(&waiters).poll(cache));
        waiters
    }

    /// Waits until `event` is applied, at most `bound`.
    pub async fn wait(&self, event: Uuid, bound: Duration) -> Outcome {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiters {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Outcome::Shed;
        }
        let _slot = Slot(&self.waiting);
        let (tx, rx) = oneshot::channel();
        self.lock().entry(event).or_default().push(tx);
        self.work.notify_one();
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(())) => Outcome::Applied,
            _ => Outcome::TimedOut,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<oneshot::Sender<()>>>> {
        self.pending.lock().expect("the lock is never poisoned")
    }

    async fn poll(self: Arc<Self>, cache: HotCache) {
        loop {
            let events: Vec<Uuid> = {
                let mut pending = self.lock();
                // Waiters that gave up dropped their receivers.
                pending.retain(|_, senders| {
                    senders.retain(|s| !s.is_closed());
                    !senders.is_empty()
                });
                pending.keys().copied().collect()
            };
            if events.is_empty() {
                self.work.notified().await;
                continue;
            }
            match cache.applied_among(&events).await {
                Ok(applied) => {
                    let mut pending = self.lock();
                    for (event, _) in events.iter().zip(applied).filter(|(_, done)| *done) {
                        for sender in pending.remove(event).into_iter().flatten() {
                            let _ = sender.send(());
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot check consistency tokens"),
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// What the middleware needs.
pub struct ConsistencyWait {
    pub waiters: Arc<Waiters>,
    pub bound: Duration,
    /// The API's own routes: only a `GET` of one of them may wait.
    pub routes: RouteTemplates,
    pub verifier: Arc<TokenVerifier>,
    pub revoked: Arc<dyn RevokedSessions>,
}

impl ConsistencyWait {
    /// Whether the request may wait: an authenticated `GET` of a read route.
    async fn may_wait(&self, req: &Request) -> bool {
        if req.method() != Method::GET || self.routes.find("GET", req.uri().path()).is_none() {
            return false;
        }
        let Some(token) = req
            .header(poem::http::header::AUTHORIZATION)
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.verifier
            .authenticate(token, self.revoked.as_ref())
            .await
            .is_ok()
    }
}

pub async fn wait_for_token<E: Endpoint>(
    ep: E,
    req: Request,
    wait: Arc<ConsistencyWait>,
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
    let Some(event) = token.event() else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let mut outcome = Outcome::Applied;
    if wait.may_wait(&req).await {
        let started = Instant::now();
        outcome = wait.waiters.wait(event, wait.bound).await;
        metrics::histogram!("read_consistency_wait_seconds")
            .record(started.elapsed().as_secs_f64());
    }
    let mut response = FOR_A_WRITE
        .scope((), ep.call(req))
        .await
        .map(IntoResponse::into_response)?;
    if outcome != Outcome::Applied {
        let counter = match outcome {
            Outcome::Shed => "read_consistency_shed_total",
            _ => "read_consistency_timeouts_total",
        };
        metrics::counter!(counter).increment(1);
        response
            .headers_mut()
            .insert(TIMEOUT_HEADER, poem::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// What [`wait_for_recent_writes`] needs.
pub struct RecentWritesWait {
    pub waiters: Arc<Waiters>,
    pub cache: HotCache,
    pub bound: Duration,
}

/// Holds a signed-in caller's request until the caller's recent writes
/// through the Mastodon API (see `contracts::consistency::recent_writes`)
/// are applied, at most the configured bound; every wait shares the one
/// poller, so it costs one Redis read per request when nothing is pending.
pub async fn wait_for_recent_writes<E: Endpoint>(
    ep: E,
    req: Request,
    wait: Arc<RecentWritesWait>,
) -> poem::Result<Response> {
    let caller = match mastodon::auth::bearer_token(&req) {
        Some(token) => {
            let verifier = req.data::<Arc<TokenVerifier>>();
            let revoked = req.data::<Arc<dyn RevokedSessions>>();
            match (verifier, revoked) {
                (Some(v), Some(r)) => v.authenticate(&token, r.as_ref()).await.ok(),
                _ => None,
            }
        }
        None => None,
    };
    if let Some(caller) = caller {
        match wait.cache.recent_writes(caller.user).await {
            Ok(events) if !events.is_empty() => {
                let started = Instant::now();
                let waits = events.iter().map(|e| wait.waiters.wait(*e, wait.bound));
                let outcomes = futures::future::join_all(waits).await;
                metrics::histogram!("read_recent_writes_wait_seconds")
                    .record(started.elapsed().as_secs_f64());
                if outcomes.iter().any(|o| *o != Outcome::Applied) {
                    metrics::counter!("read_consistency_timeouts_total").increment(1);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read a caller's recent writes"),
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}
