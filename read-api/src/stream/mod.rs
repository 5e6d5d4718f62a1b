//! The live stream's hub on one replica: which users are connected here,
//! one Redis subscription for all of them, and a bounded queue per
//! connection.
//!
//! A user's first connection subscribes the replica to the user's channel
//! and to the channels of the celebrities they follow (fan-out on read at
//! delivery time), then marks the user online so the projector starts
//! publishing to them; the last one unsubscribes. One task reads the
//! subscription and hands each message to the connections it concerns
//! without waiting: a connection whose queue is full is dropped as too
//! slow, so one slow client never holds up the others or grows memory.
//! Each connection renders (hydrates) its messages itself, for its viewer.
//!
//! # Layout
//! - this file: the registry, the dispatcher, presence, shutdown.
//! - [`render`]: a message as the JSON a client receives.

pub mod render;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::ids::UserId;
use readmodel::StoreError;
use readmodel::cache::{Channel, LiveMessage, ONLINE_TTL_SECS, Subscriber};
use tokio::sync::{mpsc, watch};

use crate::config::StreamLimits;
use crate::feed::FeedService;

/// Why a connection ended on the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue overflowed.
    TooSlow,
    /// The replica is shutting down; reconnect elsewhere.
    GoingAway,
    /// Its access token expired.
    TokenExpired,
}

impl CloseReason {
    /// The WebSocket close code: 1001 (going away), or one of the
    /// application's own 4000s: 4001 token expired, 4008 too slow.
    pub fn code(self) -> u16 {
        match self {
            CloseReason::GoingAway => 1001,
            CloseReason::TokenExpired => 4001,
            CloseReason::TooSlow => 4008,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TooSlow => "too_slow",
            CloseReason::GoingAway => "going_away",
            CloseReason::TokenExpired => "token_expired",
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefuseReason {
    #[error("this account has too many open streams")]
    AccountLimit,
    #[error("this replica holds as many streams as it may")]
    ReplicaLimit,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A connection's end of the hub: its queue, and why it was closed.
pub struct Connection {
    pub user: UserId,
    id: u64,
    pub messages: mpsc::Receiver<Arc<LiveMessage>>,
    slow: Arc<AtomicBool>,
    hub: Arc<LiveHub>,
}

impl Connection {
    /// Why the queue ended: the hub dropped it as too slow, or it is
    /// shutting down.
    pub fn ended(&self) -> CloseReason {
        if self.slow.load(Ordering::Relaxed) {
            CloseReason::TooSlow
        } else {
            CloseReason::GoingAway
        }
    }

    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.hub.shutdown.subscribe()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let hub = Arc::clone(&self.hub);
        let (user, id) = (self.user, self.id);
        tokio::spawn(async move { hub.leave(user, id).await });
    }
}

struct Sender {
    queue: mpsc::Sender<Arc<LiveMessage>>,
    slow: Arc<AtomicBool>,
}

#[derive(Default)]
struct Registry {
    users: HashMap<UserId, HashMap<u64, Sender>>,
    /// Connected users' celebrities, and each celebrity's connected
    /// followers here.
    celebrities_of: HashMap<UserId, Vec<UserId>>,
    followers_here: HashMap<UserId, HashSet<UserId>>,
    open: usize,
    next_id: u64,
}

pub struct LiveHub {
    feeds: Arc<FeedService>,
    subscriber: Subscriber,
    pub limits: StreamLimits,
    registry: Mutex<Registry>,
    /// Held while (un)subscribing, so a user's reconnect and the end of
    /// their previous connection cannot leave their channel unsubscribed.
    subscribing: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
    /// Woken whenever the last open connection goes.
    drained: tokio::sync::Notify,
}

impl LiveHub {
    /// Connects the replica's subscription and starts the dispatcher and
    /// the presence refresher.
    pub async fn start(
        feeds: Arc<FeedService>,
        limits: StreamLimits,
    ) -> Result<Arc<Self>, StoreError> {
        let subscriber = feeds.cache().subscriber().await?;
        let mut incoming = subscriber.messages();
        let hub = Arc::new(Self {
            feeds,
            subscriber,
            limits,
            registry: Mutex::default(),
            subscribing: tokio::sync::Mutex::default(),
            shutdown: watch::channel(false).0,
            drained: tokio::sync::Notify::new(),
        });
        let dispatcher = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Some(message) = incoming.recv().await {
                let Some(hub) = dispatcher.upgrade() else {
                    return;
                };
                hub.dispatch(message);
            }
        });
        let refresher = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let every = Duration::from_secs(ONLINE_TTL_SECS as u64 / 3);
            loop {
                tokio::time::sleep(every).await;
                let Some(hub) = refresher.upgrade() else {
                    return;
                };
                let users: Vec<UserId> = hub.registry().users.keys().copied().collect();
                if let Err(error) = hub.feeds.cache().mark_online(&users).await {
                    tracing::warn!(%error, "cannot refresh the online marks");
                }
            }
        });
        Ok(hub)
    }

    pub fn feeds(&self) -> &FeedService {
        &self.feeds
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves a valid registry behind.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection of `user`'s, within the limits.
    pub async fn join(self: &Arc<Self>, user: UserId) -> Result<Connection, RefuseReason> {
        let (queue, messages) = mpsc::channel(self.limits.queue);
        let slow = Arc::new(AtomicBool::new(false));
        let (id, first) = {
            let mut registry = self.registry();
            if registry.open >= self.limits.per_replica {
                return Err(RefuseReason::ReplicaLimit);
            }
            let mine = registry.users.get(&user).map_or(0, HashMap::len);
            if mine >= self.limits.per_account {
                return Err(RefuseReason::AccountLimit);
            }
            registry.open += 1;
            registry.next_id += 1;
            let id = registry.next_id;
            let sender = Sender {
                queue,
                slow: Arc::clone(&slow),
            };
            registry.users.entry(user).or_default().insert(id, sender);
            (id, mine == 0)
        };
        metrics::gauge!("read_stream_connections").increment(1.0);
        let connection = Connection {
            user,
            id,
            messages,
            slow,
            hub: Arc::clone(self),
        };
        if first {
            self.first_of(user).await?;
        }
        Ok(connection)
    }

    /// Subscribes to what concerns a newly connected user, then marks them
    /// online: in that order, so nothing is published to them unheard.
    async fn first_of(&self, user: UserId) -> Result<(), StoreError> {
        let _subscribing = self.subscribing.lock().await;
        self.subscriber.subscribe(Channel::User(user)).await?;
        let celebrities = self.feeds.celebrities(user).await?;
        let mut new_authors = Vec::new();
        {
            let mut registry = self.registry();
            for &celebrity in &celebrities {
                let followers = registry.followers_here.entry(celebrity).or_default();
                if followers.is_empty() {
                    new_authors.push(celebrity);
                }
                followers.insert(user);
            }
            registry.celebrities_of.insert(user, celebrities);
        }
        for author in new_authors {
            self.subscriber.subscribe(Channel::Author(author)).await?;
        }
        self.feeds.cache().mark_online(&[user]).await
    }

    /// Forgets connection `id` of `user`'s (the dispatcher may have dropped
    /// it already); after the user's last, unsubscribes what they needed.
    async fn leave(&self, user: UserId, id: u64) {
        let gone_authors = {
            let mut registry = self.registry();
            let Some(connections) = registry.users.get_mut(&user) else {
                return;
            };
            if connections.remove(&id).is_some() {
                registry.open -= 1;
                metrics::gauge!("read_stream_connections").decrement(1.0);
                if registry.open == 0 {
                    self.drained.notify_waiters();
                }
            }
            if !registry.users.get(&user).is_some_and(HashMap::is_empty) {
                return;
            }
            registry.users.remove(&user);
            let mut gone = Vec::new();
            for celebrity in registry.celebrities_of.remove(&user).unwrap_or_default() {
                if let Some(followers) = registry.followers_here.get_mut(&celebrity) {
                    followers.remove(&user);
                    if followers.is_empty() {
                        registry.followers_here.remove(&celebrity);
                        gone.push(celebrity);
                    }
                }
            }
            gone
        };
        let _subscribing = self.subscribing.lock().await;
        let unneeded: Vec<Channel> = {
            let registry = self.registry();
            std::iter::once(Channel::User(user))
                .filter(|_| !registry.users.contains_key(&user))
                .chain(
                    gone_authors
                        .into_iter()
                        .filter(|a| !registry.followers_here.contains_key(a))
                        .map(Channel::Author),
                )
                .collect()
        };
        for channel in unneeded {
            if let Err(error) = self.subscriber.unsubscribe(channel).await {
                tracing::warn!(%error, "cannot unsubscribe a live channel");
            }
        }
    }

    /// Hands `message` to every connection it concerns, never waiting.
    fn dispatch(&self, message: LiveMessage) {
        let message = Arc::new(message);
        let mut registry = self.registry();
        let users: Vec<UserId> = match message.channel {
            Channel::User(user) => vec![user],
            Channel::Author(author) => registry
                .followers_here
                .get(&author)
                .map(|f| f.iter().copied().collect())
                .unwrap_or_default(),
        };
        let mut dropped = 0;
        for user in users {
            let Some(connections) = registry.users.get_mut(&user) else {
                continue;
            };
            let before = connections.len();
            connections.retain(|_, sender| {
                match sender.queue.try_send(Arc::clone(&message)) {
                    Ok(()) => {
                        metrics::counter!("read_stream_messages_total", "result" => "queued")
                            .increment(1);
                        true
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        sender.slow.store(true, Ordering::Relaxed);
                        metrics::counter!("read_stream_messages_total", "result" => "dropped")
                            .increment(1);
                        // Dropping the sender ends the client's queue; the
                        // connection then closes as too slow and leaves.
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            dropped += before - connections.len();
        }
        registry.open -= dropped;
        metrics::gauge!("read_stream_connections").decrement(dropped as f64);
        if dropped > 0 && registry.open == 0 {
            self.drained.notify_waiters();
        }
    }

    /// Closes every connection with 1001, so clients reconnect to another
    /// replica.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once no connection is open here, or after `within`: the
    /// process must not exit while sockets are still sending their close
    /// frames.
    pub async fn drained(&self, within: Duration) {
        let wait = async {
            loop {
                let notified = self.drained.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.registry().open == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(within, wait).await;
    }
}
