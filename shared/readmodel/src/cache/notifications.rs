//! Hot inboxes: each user's newest notifications in Redis.
//!
//! Keys, all in the user's hash tag:
//! - `inbox:{user}`: sorted set of the newest notifications, score the
//!   notification id, member its JSON. It holds every notification from
//!   its oldest member up; older ones live in the durable store.
//! - `inbox:{user}:state`: `complete` while the set holds the whole inbox,
//!   `partial` while older notifications exist only in the durable store;
//!   absent when the set is cold and not to be trusted.
//! - `inbox:{user}:version`: grows with every change the projector makes.
//!   A reader warms a cold set from the durable store only if the version
//!   is still the one it read before loading ([`INBOX_WARM`]), so a change
//!   made meanwhile is never lost; the projector changes warm sets only.

use fred::interfaces::LuaInterface;
use fred::prelude::*;

use super::{HotCache, decode};
use crate::StoreError;
use crate::notifications::NotificationRecord;
use contracts::ids::{NotificationId, UserId};

/// Notifications a hot inbox keeps.
pub const INBOX_CAP: usize = 100;

/// Adds one notification (ARGV: cap, TTL seconds, id, JSON) to a warm set
/// (KEYS: set, state, version), bumping the version either way. A partial
/// set holds every notification from its oldest member up, so one older
/// than that member is left to the durable store (a full complete set
/// becomes partial by it); past the cap the oldest are dropped, and the set
/// becomes partial.
const INBOX_ADD: &str = r#"
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
local state = redis.call('GET', KEYS[2])
if not state then return 0 end
local cap = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3])
local size = redis.call('ZCARD', KEYS[1])
if state == 'partial' or size >= cap then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] and tonumber(ARGV[3]) < tonumber(oldest[2]) then
    redis.call('SET', KEYS[2], 'partial', 'KEEPTTL')
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
if size + 1 > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 1))
  redis.call('SET', KEYS[2], 'partial', 'KEEPTTL')
end
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"#;

/// Removes the notification with id ARGV[2] (KEYS: set, state, version),
/// bumping the version (kept ARGV[1] seconds). An emptied partial set no
/// longer knows where it ends, so it turns cold.
const INBOX_REMOVE: &str = r#"
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[1])
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('GET', KEYS[2]) == 'partial' then
  redis.call('DEL', KEYS[2])
end
return removed
"#;

/// Replaces a set with what a reader loaded (ARGV: the version it read,
/// TTL seconds, `complete` or `partial`, then id and JSON of each), unless
/// the version moved since (KEYS: set, state, version).
const INBOX_WARM: &str = r#"
local version = redis.call('GET', KEYS[3]) or '0'
if version ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1
"#;

/// Reads a set (KEYS: set, state, version) below id ARGV[1] (exclusive),
/// newest first, at most ARGV[2]: state (empty when cold), version, then
/// the members.
const INBOX_READ: &str = r#"
local state = redis.call('GET', KEYS[2]) or ''
local version = redis.call('GET', KEYS[3]) or '0'
local reply = {state, version}
if state == '' then return reply end
local top = ARGV[1] == '+inf' and '+inf' or ('(' .. ARGV[1])
local members = redis.call('ZREVRANGEBYSCORE', KEYS[1], top, '-inf', 'LIMIT', 0, ARGV[2])
for _, m in ipairs(members) do reply[#reply + 1] = m end
return reply
"#;

/// What a hot inbox held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotInbox {
    /// Not to be trusted: load the durable store and warm it with
    /// [`HotCache::warm_inbox`], quoting this version.
    Cold { version: String },
    /// The newest notifications below the bound asked for; with
    /// `complete`, nothing older exists.
    Warm {
        notifications: Vec<NotificationRecord>,
        complete: bool,
    },
}

impl HotCache {
    fn inbox_keys(&self, user: UserId) -> Vec<String> {
        let set = format!("{}inbox:{{{}}}", self.prefix, user.0);
        vec![
            set.clone(),
            format!("{set}:state"),
            format!("{set}:version"),
        ]
    }

    fn inbox_ttl(&self) -> i64 {
        Self::ttl_secs(self.feed_ttl)
    }

    /// Puts a new notification in `recipient`'s hot inbox, if warm.
    pub async fn add_notification(
        &self,
        recipient: UserId,
        n: &NotificationRecord,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(n).expect("notifications always serialise");
        let args: Vec<Value> = vec![
            (INBOX_CAP as i64).into(),
            self.inbox_ttl().into(),
            n.id.0.into(),
            json.into(),
        ];
        let _: i64 = self
            .pool
            .eval(INBOX_ADD, self.inbox_keys(recipient), args)
            .await?;
        Ok(())
    }

    /// Takes a withdrawn notification out of `recipient`'s hot inbox.
    pub async fn remove_notification(
        &self,
        recipient: UserId,
        id: NotificationId,
    ) -> Result<(), StoreError> {
        let args: Vec<Value> = vec![self.inbox_ttl().into(), id.0.into()];
        let _: i64 = self
            .pool
            .eval(INBOX_REMOVE, self.inbox_keys(recipient), args)
            .await?;
        Ok(())
    }

    /// Up to `limit` of `recipient`'s hot notifications below `before`,
    /// newest first.
    pub async fn inbox(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<HotInbox, StoreError> {
        let before = before.map_or_else(|| "+inf".to_owned(), |b| b.0.to_string());
        let args: Vec<Value> = vec![before.into(), (limit as i64).into()];
        let reply: Vec<String> = self
            .pool
            .eval(INBOX_READ, self.inbox_keys(recipient), args)
            .await?;
        let mut reply = reply.into_iter();
        let state = reply.next().unwrap_or_default();
        let version = reply.next().unwrap_or_else(|| "0".to_owned());
        if state.is_empty() {
            return Ok(HotInbox::Cold { version });
        }
        Ok(HotInbox::Warm {
            notifications: reply.filter_map(|json| decode(Some(json))).collect(),
            complete: state == "complete",
        })
    }

    /// Warms `recipient`'s hot inbox with its newest notifications, loaded
    /// from the durable store after [`HotCache::inbox`] answered `version`;
    /// `complete` when they are the whole inbox.
    pub async fn warm_inbox(
        &self,
        recipient: UserId,
        version: &str,
        newest: &[NotificationRecord],
        complete: bool,
    ) -> Result<(), StoreError> {
        let mut args: Vec<Value> = Vec::with_capacity(3 + 2 * newest.len());
        args.push(version.into());
        args.push(self.inbox_ttl().into());
        args.push(if complete { "complete" } else { "partial" }.into());
        for n in newest.iter().take(INBOX_CAP) {
            args.push(n.id.0.into());
            args.push(
                serde_json::to_string(n)
                    .expect("notifications always serialise")
                    .into(),
            );
        }
        let _: i64 = self
            .pool
            .eval(INBOX_WARM, self.inbox_keys(recipient), args)
            .await?;
        Ok(())
    }

    /// Drops `recipient`'s hot inbox and voids warms in flight: the next
    /// read loads the durable one.
    pub async fn forget_inbox(&self, recipient: UserId) -> Result<(), StoreError> {
        let keys = self.inbox_keys(recipient);
        let _: i64 = self.pool.del(keys[..2].to_vec()).await?;
        let _: i64 = self.pool.incr(keys[2].clone()).await?;
        Ok(())
    }
}
