//! The live stream's Redis side: who is connected, per-user messages with a
//! short replay log, and celebrities' channels.
//!
//! Keys and channels, each user's in the user's hash tag so a script and
//! a sharded channel share one slot of a Redis Cluster:
//! - `online:{user}`: present while a read replica holds a stream of the
//!   user's (it refreshes the key; it expires [`ONLINE_TTL_SECS`] after the
//!   last one ends). The projector publishes only to online users, so a
//!   post's fan-out costs nothing for the followers who are not watching.
//! - `live:{user}`: the user's channel (sharded on a cluster). A message is
//!   `<log id> <JSON of a LiveEvent>`.
//! - `live:{user}:log`: a Redis stream of the same messages, kept about
//!   [`REPLAY_MS`], so an SSE client reconnecting with `Last-Event-ID`
//!   gets what it missed.
//! - `author:{user}`: a celebrity's channel. Their posts reach no feed by
//!   fan-out, so each replica subscribes to the channels of the celebrities
//!   its connected users follow and delivers to those users: fan-out on
//!   read, at delivery time, to the connected followers only.

use std::collections::HashMap;

use fred::clients::SubscriberClient;
use fred::interfaces::{EventInterface, LuaInterface, PubsubInterface, StreamsInterface};
use fred::prelude::*;
use serde::{Deserialize, Serialize};

use super::HotCache;
use crate::StoreError;
use crate::notifications::NotificationRecord;
use contracts::ids::{PostId, UserId};

/// How long a replica's mark of a connected user lasts; replicas refresh
/// it three times as often.
pub const ONLINE_TTL_SECS: i64 = 90;
/// How far back `Last-Event-ID` can resume, at least.
pub const REPLAY_MS: i64 = 120_000;
/// Messages a resumption replays at most.
pub const REPLAY_MAX: u64 = 1_000;
/// Messages a replica's subscription may hold before its reader takes
/// them; past it the oldest are lost (counted as `lagged`).
const SUBSCRIBER_BACKLOG: usize = 16_384;

/// What a connected client is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data")]
pub enum LiveEvent {
    /// An entry newly in the user's home feed: a post, or a repost of one.
    #[serde(rename = "feed.item")]
    FeedItem { entry: PostId },
    /// A post left the user's home feed.
    #[serde(rename = "feed.delete")]
    FeedDelete { id: PostId },
    /// A post in the user's home feed was edited.
    #[serde(rename = "post.update")]
    PostUpdate { id: PostId },
    /// A new notification of the user's.
    #[serde(rename = "notification")]
    Notification(NotificationRecord),
}

/// A message as a replica receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMessage {
    /// Whose channel it came on: the user's own, or a celebrity's.
    pub channel: Channel,
    /// The replay log's id (own channels only): the SSE event id.
    pub id: Option<String>,
    pub event: LiveEvent,
}

/// Where a message was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    User(UserId),
    Author(UserId),
}

/// Appends a message to a user's replay log (KEYS[1]; ARGV: oldest id to
/// keep, TTL seconds, JSON) and publishes `<id> <JSON>` on the user's
/// channel (ARGV[4], same slot; ARGV[5] the publish command).
const PUSH: &str = r#"
local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'm', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call(ARGV[5], ARGV[4], id .. ' ' .. ARGV[3])
return id
"#;

/// A replay log id (`<ms>-<seq>`) as a number pair, for ordering; `None`
/// for anything else.
pub fn log_position(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl HotCache {
    fn online_key(&self, user: UserId) -> String {
        format!("{}online:{{{}}}", self.prefix, user.0)
    }

    fn live_channel(&self, user: UserId) -> String {
        format!("{}live:{{{}}}", self.prefix, user.0)
    }

    fn live_log(&self, user: UserId) -> String {
        format!("{}live:{{{}}}:log", self.prefix, user.0)
    }

    fn author_channel(&self, author: UserId) -> String {
        format!("{}author:{{{}}}", self.prefix, author.0)
    }

    fn publish_command(&self) -> &'static str {
        if self.clustered {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// Which of `users` have a live stream open on some replica.
    pub async fn online_among(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let keys = users.iter().map(|&u| self.online_key(u)).collect();
        let found = self.mget(keys).await?;
        Ok(users
            .iter()
            .zip(found)
            .filter(|(_, mark)| mark.is_some())
            .map(|(&u, _)| u)
            .collect())
    }

    /// Marks `users` connected for [`ONLINE_TTL_SECS`].
    pub async fn mark_online(&self, users: &[UserId]) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        let pipeline = self.pool.next().pipeline();
        for &user in users {
            let _: () = pipeline
                .set(
                    self.online_key(user),
                    1,
                    Some(fred::types::Expiration::EX(ONLINE_TTL_SECS)),
                    None,
                    false,
                )
                .await?;
        }
        let _: Vec<Value> = pipeline.all().await?;
        Ok(())
    }

    /// Sends `event` to each of `users` who is online: logged for replay
    /// and published on their channels, all at once.
    pub async fn push(&self, users: &[UserId], event: &LiveEvent) -> Result<(), StoreError> {
        let online = self.online_among(users).await?;
        if online.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(event).expect("live events always serialise");
        let oldest = format!("{}-0", chrono::Utc::now().timestamp_millis() - REPLAY_MS);
        let ttl = (REPLAY_MS / 1_000) * 2;
        let client = self.pool.next();
        let pushes = online.iter().map(|&user| {
            let keys = vec![self.live_log(user)];
            let args: Vec<Value> = vec![
                oldest.as_str().into(),
                ttl.into(),
                json.as_str().into(),
                self.live_channel(user).into(),
                self.publish_command().into(),
            ];
            client.eval::<String, _, _, _>(PUSH, keys, args)
        });
        for result in futures::future::join_all(pushes).await {
            result?;
        }
        metrics::counter!("projector_live_messages_total").increment(online.len() as u64);
        Ok(())
    }

    /// Publishes `event` on a celebrity's channel, for the replicas whose
    /// connected users follow them.
    pub async fn push_author(&self, author: UserId, event: &LiveEvent) -> Result<(), StoreError> {
        let json = serde_json::to_string(event).expect("live events always serialise");
        let channel = self.author_channel(author);
        let client = self.pool.next();
        let _: i64 = if self.clustered {
            client.spublish(channel, json).await?
        } else {
            client.publish(channel, json).await?
        };
        Ok(())
    }

    /// `user`'s messages logged after `after` (a log id), oldest first, at
    /// most [`REPLAY_MAX`]; an id that is not a log id replays nothing.
    pub async fn replay(
        &self,
        user: UserId,
        after: &str,
    ) -> Result<Vec<(String, LiveEvent)>, StoreError> {
        if log_position(after).is_none() {
            return Ok(Vec::new());
        }
        let entries: Vec<(String, HashMap<String, String>)> = self
            .pool
            .xrange(
                self.live_log(user),
                format!("({after}"),
                "+",
                Some(REPLAY_MAX),
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let event = serde_json::from_str(fields.get("m")?).ok()?;
                Some((id, event))
            })
            .collect())
    }

    /// A new subscriber connection for a replica's live streams.
    pub async fn subscriber(&self) -> Result<Subscriber, StoreError> {
        let client = Builder::from_config(self.config.clone())
            .with_performance_config(|p| {
                // The driver hands messages on through a broadcast channel
                // that drops the oldest once this many wait: room for bursts.
                p.broadcast_channel_capacity = SUBSCRIBER_BACKLOG;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_subscriber_client()?;
        client.init().await?;
        let _resubscribing = client.manage_subscriptions();
        Ok(Subscriber {
            client,
            cache: self.clone(),
        })
    }
}

/// One replica's subscription to the channels of its connected users and
/// of the celebrities they follow.
#[derive(Clone)]
pub struct Subscriber {
    client: SubscriberClient,
    cache: HotCache,
}

impl Subscriber {
    fn channel_name(&self, channel: Channel) -> String {
        match channel {
            Channel::User(u) => self.cache.live_channel(u),
            Channel::Author(a) => self.cache.author_channel(a),
        }
    }

    pub async fn subscribe(&self, channel: Channel) -> Result<(), StoreError> {
        let name = self.channel_name(channel);
        if self.cache.clustered {
            self.client.ssubscribe(name).await?;
        } else {
            self.client.subscribe(name).await?;
        }
        Ok(())
    }

    pub async fn unsubscribe(&self, channel: Channel) -> Result<(), StoreError> {
        let name = self.channel_name(channel);
        if self.cache.clustered {
            self.client.sunsubscribe(name).await?;
        } else {
            self.client.unsubscribe(name).await?;
        }
        Ok(())
    }

    /// Every message on the subscribed channels, decoded; unreadable ones
    /// are skipped. Ends when the client is dropped.
    pub fn messages(&self) -> tokio::sync::mpsc::Receiver<LiveMessage> {
        let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIBER_BACKLOG);
        let mut incoming = self.client.message_rx();
        let prefix = self.cache.prefix.clone();
        tokio::spawn(async move {
            loop {
                let message = match incoming.recv().await {
                    Ok(message) => message,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        metrics::counter!("read_stream_messages_total", "result" => "lagged")
                            .increment(missed);
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(decoded) = decode_message(&prefix, &message.channel, message.value) else {
                    continue;
                };
                if tx.send(decoded).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// Reads a message off `channel`: `<log id> <JSON>` on a user's channel,
/// the JSON alone on a celebrity's.
fn decode_message(prefix: &str, channel: &str, value: Value) -> Option<LiveMessage> {
    let rest = channel.strip_prefix(prefix)?;
    let (kind, tagged) = rest.split_once(":{")?;
    let id = UserId(tagged.strip_suffix('}')?.parse().ok()?);
    let text: String = value.convert().ok()?;
    let (channel, id_part, json) = match kind {
        "live" => {
            let (log_id, json) = text.split_once(' ')?;
            (Channel::User(id), Some(log_id.to_owned()), json)
        }
        "author" => (Channel::Author(id), None, text.as_str()),
        _ => return None,
    };
    let event = serde_json::from_str(json).ok()?;
    Some(LiveMessage {
        channel,
        id: id_part,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_channel_and_log_id() {
        let json = r#"{"event":"feed.delete","data":{"id":"5"}}"#;
        let on_user = decode_message("p:", "p:live:{7}", format!("1-0 {json}").into());
        assert_eq!(
            on_user,
            Some(LiveMessage {
                channel: Channel::User(UserId(7)),
                id: Some("1-0".into()),
                event: LiveEvent::FeedDelete { id: PostId(5) },
            })
        );
        let on_author = decode_message("p:", "p:author:{9}", json.into());
        assert_eq!(
            on_author.map(|m| m.channel),
            Some(Channel::Author(UserId(9)))
        );
        assert_eq!(decode_message("p:", "q:live:{7}", json.into()), None);
        assert_eq!(decode_message("p:", "p:live:{7}", "garbage".into()), None);
    }
}
