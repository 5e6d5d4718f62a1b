//! HTTP handlers of the read API.

mod feed;
pub mod mastodon;
pub(crate) mod notifications;
pub mod stream;
mod threads;
mod typed_json;
mod users;
pub(crate) mod views;

use std::sync::Arc;

use crate::feed::FeedService;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Home feeds.
    Feeds,
    /// Profiles.
    Users,
    /// Notifications.
    Notifications,
}

pub fn api(
    feeds: Arc<FeedService>,
) -> (
    feed::FeedApi,
    threads::ThreadsApi,
    users::UsersApi,
    notifications::NotificationsApi,
) {
    (
        feed::FeedApi(feeds.clone()),
        threads::ThreadsApi(feeds.clone()),
        users::UsersApi(feeds.clone()),
        notifications::NotificationsApi(feeds),
    )
}
