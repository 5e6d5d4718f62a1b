//! Consumer lag per partition, from librdkafka's periodic statistics.

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;

/// How often librdkafka reports, and so how fresh the lag gauge is.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Publishes `projector_consumer_lag_events{topic, partition}`: events on
/// the broker that this consumer has not finished applying (high watermark
/// minus the offset stored after an event's effects were written).
pub struct LagReporter;

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // -1 is librdkafka's internal partition; a negative lag means
                // the partition is not assigned here or not yet known.
                if partition < 0 || p.consumer_lag_stored < 0 {
                    continue;
                }
                metrics::gauge!(
                    "projector_consumer_lag_events",
                    "topic" => topic.clone(),
                    "partition" => partition.to_string(),
                )
                .set(p.consumer_lag_stored as f64);
            }
        }
    }
}

impl ConsumerContext for LagReporter {}
