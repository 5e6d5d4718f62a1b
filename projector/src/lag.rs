//! Consumer lag per partition, from librdkafka's periodic statistics, and
//! the partitions this consumer holds, from its rebalance callback.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;

/// How often librdkafka reports, and so how fresh the lag gauge is.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Publishes `projector_consumer_lag_events{topic, partition}`: events on
/// the broker that this consumer has not finished applying (high watermark
/// minus the offset stored after an event's effects were written), and
/// `projector_assigned_partitions`: zero until the consumer has joined its
/// group, and for a replica that the group left without work.
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

impl ConsumerContext for LagReporter {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        let held = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        metrics::gauge!("projector_assigned_partitions").set(held as f64);
    }
}
