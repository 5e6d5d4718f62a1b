//! HTTP handlers of the read API.

mod feed;

use std::sync::Arc;

use crate::feed::FeedService;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Home feeds.
    Feeds,
}

pub fn api(feeds: Arc<FeedService>) -> feed::FeedApi {
    feed::FeedApi(feeds)
}
