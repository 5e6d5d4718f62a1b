//! The live stream: after an event's effects are written, the connected
//! users it concerns are told (see `readmodel::cache::stream`). Delivery is
//! best effort: a failure is counted and logged, never retried, because a
//! retry would apply the event again for the sake of a notice a client
//! also gets by reading.

use contracts::ids::UserId;
use readmodel::cache::LiveEvent;

use super::Effects;

impl Effects {
    /// Tells those of `users` who are connected.
    pub(super) async fn live(&self, users: &[UserId], event: &LiveEvent) {
        if let Err(error) = self.cache.push(users, event).await {
            tracing::warn!(%error, "live stream message not delivered");
            metrics::counter!("projector_live_failures_total").increment(1);
        }
    }

    /// Tells every replica whose connected users follow celebrity `author`.
    pub(super) async fn live_author(&self, author: UserId, event: &LiveEvent) {
        if let Err(error) = self.cache.push_author(author, event).await {
            tracing::warn!(%error, "live stream message not delivered");
            metrics::counter!("projector_live_failures_total").increment(1);
        }
    }
}
