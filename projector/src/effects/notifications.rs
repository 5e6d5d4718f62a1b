//! Notifications: whom an event notifies, and withdrawing them when their
//! cause ends. A notification takes its cause's id, so a redelivered event
//! stores the same one again; nobody is notified of their own action.

use chrono::{DateTime, Duration, Utc};
use contracts::events::{NotificationsCleared, PostCreated};
use contracts::ids::{NotificationId, PostId, UserId};
use readmodel::cache::LiveEvent;
use readmodel::notifications::{KEEP_DAYS, KEEP_NEWEST};
use readmodel::{NotificationKind, NotificationRecord, StoreError};

use super::Effects;

/// About one new notification in this many trims its recipient's inbox
/// (chosen by id, so a redelivery trims where the first delivery did).
const TRIM_EVERY: i64 = 64;

impl Effects {
    /// Stores `n` in `recipient`'s inbox, both tiers, unless the recipient
    /// did it themselves or took it out of the inbox already (dismissed,
    /// cleared, or its cause withdrawn).
    pub(super) async fn notify(
        &self,
        recipient: UserId,
        n: NotificationRecord,
    ) -> Result<(), StoreError> {
        if recipient == n.actor {
            return Ok(());
        }
        if !self.store.add_notification(recipient, &n).await? {
            return Ok(());
        }
        self.cache.add_notification(recipient, &n).await?;
        self.live(&[recipient], &LiveEvent::Notification(n.clone()))
            .await;
        metrics::counter!("projector_notifications_total", "kind" => n.kind.as_str(), "change" => "added")
            .increment(1);
        if n.id.0 % TRIM_EVERY == 0 {
            let since = Utc::now() - Duration::days(KEEP_DAYS);
            self.store
                .trim_notifications(recipient, KEEP_NEWEST, since)
                .await?;
        }
        Ok(())
    }

    /// Withdraws the notification `id` of `recipient`'s, both tiers.
    pub(super) async fn withdraw(
        &self,
        recipient: UserId,
        id: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.remove_notification(recipient, id, at).await?;
        self.cache.remove_notification(recipient, id).await?;
        metrics::counter!("projector_notifications_total", "change" => "withdrawn").increment(1);
        Ok(())
    }

    /// Takes what a clear covers out of the inbox: the durable one for
    /// good; the hot one is dropped, and the next read warms it from the
    /// durable one.
    pub(super) async fn clear_inbox(&self, e: &NotificationsCleared) -> Result<(), StoreError> {
        self.store
            .clear_notifications(e.user_id, e.up_to, e.cleared_at)
            .await?;
        self.cache.forget_inbox(e.user_id).await?;
        metrics::counter!("projector_notifications_total", "change" => "cleared").increment(1);
        Ok(())
    }

    /// Withdraws every notification about a deleted post.
    pub(super) async fn withdraw_about(
        &self,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (recipient, id) in self.store.remove_notifications_about(post, at).await? {
            self.cache.remove_notification(recipient, id).await?;
            metrics::counter!("projector_notifications_total", "change" => "withdrawn")
                .increment(1);
        }
        Ok(())
    }

    /// A new post notifies the author it answers (`reply`) and the
    /// accounts it mentions (`mention`); an author both answered and
    /// mentioned gets the reply only.
    pub(super) async fn notify_post(&self, e: &PostCreated) -> Result<(), StoreError> {
        let about = |kind| NotificationRecord {
            id: NotificationId(e.post_id.0),
            kind,
            actor: e.author_id,
            post: Some(e.post_id),
            created_at: e.created_at,
        };
        let answered = e.in_reply_to.map(|t| t.author_id);
        if let Some(author) = answered {
            self.notify(author, about(NotificationKind::Reply)).await?;
        }
        for &mentioned in e.mentions.iter().filter(|&&m| Some(m) != answered) {
            self.notify(mentioned, about(NotificationKind::Mention))
                .await?;
        }
        Ok(())
    }
}
