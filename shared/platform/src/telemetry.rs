//! Logging and metrics set-up, identical in every process.
//!
//! Logs are JSON lines on stdout (one object per event, with the span
//! fields, so the request id appears on every line of a request). Metrics
//! go to a Prometheus recorder whose text is served at `GET /metrics`.
//! Histograms get explicit buckets so Prometheus can aggregate them across
//! replicas (summaries cannot be).

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::EnvFilter;

/// Buckets for latencies in seconds, from 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets for counts such as fan-out sizes.
pub const SIZE_BUCKETS: &[f64] = &[1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0];

/// Starts a process: JSON logs first, so that a bad configuration is
/// logged; then `config` (read once, typed); then the metrics recorder
/// with `describe`'s `# HELP` lines.
pub fn start<C, E>(
    service: &'static str,
    config: impl FnOnce() -> Result<C, E>,
    describe: fn(),
) -> Result<(C, PrometheusHandle), E> {
    init_logging(service);
    let config = config()?;
    let metrics = init_metrics(service);
    describe();
    Ok((config, metrics))
}

/// Starts JSON logging, filtered by `RUST_LOG` (default `info`).
pub fn init_logging(service: &'static str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}

/// Installs the global metrics recorder and returns the handle that renders it.
///
/// Installing twice (as tests that start several services in one process
/// do) reuses the first recorder.
pub fn init_metrics(service: &'static str) -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .add_global_label("service", service)
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS)
                })
                .expect("bucket lists are non-empty")
                .install_recorder()
                .expect("the metrics recorder is installed once per process");
            let upkeep = handle.clone();
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            describe_shared_metrics();
            metrics::gauge!("process_start_time_seconds").set(started.as_secs_f64());
            // The recorder drains histogram samples only on upkeep; without it memory grows.
            std::thread::spawn(move || {
                loop {
                    record_process_metrics();
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// Linux's user-visible clock tick (`USER_HZ`), fixed at 100 on every
/// architecture it supports, whatever the kernel's internal tick.
const USER_HZ: f64 = 100.0;

/// The standard `process_*` metrics Prometheus's own clients export, read
/// from `/proc/self`. CPU time is a gauge because the recorder's counters are
/// integers; `rate()` treats it the same. Nothing is recorded off Linux.
fn record_process_metrics() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name, which may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        metrics::gauge!("process_cpu_seconds_total").set(ticks / USER_HZ);
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let value = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        };
        if let Some(kib) = value("VmRSS:") {
            metrics::gauge!("process_resident_memory_bytes").set(kib * 1024.0);
        }
        if let Some(kib) = value("VmSize:") {
            metrics::gauge!("process_virtual_memory_bytes").set(kib * 1024.0);
        }
        if let Some(threads) = value("Threads:") {
            metrics::gauge!("process_threads").set(threads);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}

/// `# HELP` lines for the metrics every process exports.
fn describe_shared_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by route template, method and status."
    );
    describe_counter!(
        "http_requests_shed_total",
        "Requests answered 503 at once because the process was working on as many as it may (see platform::shed)."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route template, method and status."
    );
    describe_gauge!(
        "process_cpu_seconds_total",
        Unit::Seconds,
        "User and system CPU time this process has used."
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process."
    );
    describe_gauge!(
        "process_virtual_memory_bytes",
        Unit::Bytes,
        "Virtual memory of this process."
    );
    describe_gauge!("process_threads", "Threads of this process.");
    describe_gauge!("process_open_fds", "Open file descriptors of this process.");
    describe_gauge!(
        "process_start_time_seconds",
        Unit::Seconds,
        "When this process started, in seconds since the Unix epoch."
    );
}
