//! HTTP handlers of the read API.

mod feed;
mod users;

use std::sync::Arc;

use crate::feed::FeedService;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Home feeds.
    Feeds,
    /// Profiles.
    Users,
}

pub fn api(feeds: Arc<FeedService>) -> (feed::FeedApi, users::UsersApi) {
    (feed::FeedApi(feeds.clone()), users::UsersApi(feeds))
}
