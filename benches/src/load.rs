//! Load generation and latency recording.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies (µs, 1 µs to 60 s, 3 significant digits) and error counts of one operation.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<(Histogram<u64>, u64)>>,
}

impl Default for Recorder {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        Self {
            inner: Arc::new(Mutex::new((histogram, 0))),
        }
    }
}

impl Recorder {
    pub fn record(&self, latency: Duration, ok: bool) {
        let mut inner = self.inner.lock().expect("not poisoned");
        let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
        inner.0.saturating_record(micros);
        if !ok {
            inner.1 += 1;
        }
    }

    pub fn histogram(&self) -> Histogram<u64> {
        self.inner.lock().expect("not poisoned").0.clone()
    }

    pub fn errors(&self) -> u64 {
        self.inner.lock().expect("not poisoned").1
    }
}

/// Parses a rate in requests per second: above zero and at most a million
/// (a zero rate would schedule requests an infinite time apart).
pub fn rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if rate > 0.0 && rate <= 1_000_000.0 {
        Ok(rate)
    } else {
        Err("a rate must be above 0 and at most 1000000 per second".to_owned())
    }
}

/// Parses a count that must be at least 1 (a page size, a concurrency, …).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a share: a fraction from 0 to 1.
pub fn share(s: &str) -> Result<f64, String> {
    let share: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err("a share must be from 0 to 1".to_owned())
    }
}

/// How many requests [`open_loop`] schedules at `rate` over `duration`:
/// one every `1 / rate`, from the start up to (not at) its end.
pub fn scheduled(rate: f64, duration: Duration) -> u64 {
    let interval = Duration::from_secs_f64(1.0 / rate);
    (0u64..)
        .take_while(|&i| interval.mul_f64(i as f64) < duration)
        .count() as u64
}

/// Calls `request(i)` at `rate` per second for `duration`, each on its own
/// task, and records each latency from the moment it was scheduled.
/// At most `max_in_flight` requests run at once; past that a request counts
/// as an error instead of piling up without bound.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    recorder: &Recorder,
    request: F,
) where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let mut tasks = Vec::new();
    for i in 0..scheduled(rate, duration) {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            recorder.record(Duration::from_secs(60), false);
            continue;
        };
        let (recorder, future) = (recorder.clone(), request(i));
        tasks.push(tokio::spawn(async move {
            let ok = future.await;
            recorder.record(due.elapsed(), ok);
            drop(permit);
        }));
    }
    futures::future::join_all(tasks).await;
}

/// Runs `workers` loops calling `request` back to back for `duration`:
/// the most the server gives at this concurrency.
pub async fn closed_loop<F, Fut>(
    workers: usize,
    duration: Duration,
    recorder: &Recorder,
    request: F,
) -> u64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (recorder, request) = (recorder.clone(), request.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let ok = request(w as u64 * 1_000_000 + done).await;
                    recorder.record(started.elapsed(), ok);
                    done += 1;
                }
                done
            })
        })
        .collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .sum()
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Prints one line of results.
pub fn report(name: &str, recorder: &Recorder, elapsed: Duration, requested_rate: Option<f64>) {
    let h = recorder.histogram();
    let achieved = h.len() as f64 / elapsed.as_secs_f64();
    let requested = requested_rate.map_or_else(|| "max".to_owned(), |r| format!("{r:.0}/s"));
    println!(
        "{name:<28} req {requested:>7}  got {achieved:>7.1}/s  n={:<7} err={:<5} p50 {:>8.2} ms  p90 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2}  max {:>8.2}",
        h.len(),
        recorder.errors(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    );
}
