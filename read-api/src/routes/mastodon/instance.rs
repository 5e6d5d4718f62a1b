//! What clients ask a server before anything else: the instance, its
//! software (NodeInfo), preferences, and the lists, filters and emoji
//! this system has none of (answered empty, as a server without any
//! answers), and the default avatar every account shows.
//!
//! The account and post counts are the projector's estimates (within about
//! 1%); if Redis cannot answer they show as zero, because clients read the
//! instance before they log in and must not fail on it.

use std::sync::Arc;

use mastodon::VERSION;
use mastodon::auth::Caller;
use mastodon::paging::origin;
use poem::web::{Data, Json};
use poem::{Request, Response, handler};
use readmodel::cache::InstanceStats;
use serde_json::{Value, json};

use crate::feed::{FeedService, cache_failed};

/// Characters in a post, as the write side enforces.
const MAX_CHARACTERS: usize = 280;

fn host(req: &Request) -> String {
    let origin = origin(req);
    origin
        .split_once("://")
        .map_or(origin.clone(), |(_, h)| h.to_owned())
}

fn statuses_configuration() -> Value {
    json!({
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": 0,
        "characters_reserved_per_url": 23,
    })
}

fn media_configuration() -> Value {
    json!({
        "supported_mime_types": [],
        "image_size_limit": 0,
        "image_matrix_limit": 0,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    })
}

fn polls_configuration() -> Value {
    json!({
        "max_options": 0,
        "max_characters_per_option": 0,
        "min_expiration": 0,
        "max_expiration": 0,
    })
}

const DESCRIPTION: &str = "A microblog: posts, replies, likes, reposts and follows.";

async fn stats(feeds: &FeedService) -> InstanceStats {
    feeds.cache().instance_stats().await.unwrap_or_else(|e| {
        cache_failed("instance_stats", &e);
        InstanceStats::default()
    })
}

/// `GET /api/v1/instance`.
#[handler]
pub async fn instance_v1(Data(feeds): Data<&Arc<FeedService>>, req: &Request) -> Json<Value> {
    let stats = stats(feeds).await;
    let origin = origin(req);
    let streaming = origin.replacen("http", "ws", 1);
    Json(json!({
        "uri": host(req),
        "title": "Microblog",
        "short_description": DESCRIPTION,
        "description": DESCRIPTION,
        "email": "",
        "version": VERSION,
        "urls": { "streaming_api": streaming },
        "stats": {
            "user_count": stats.accounts,
            "status_count": stats.posts,
            "domain_count": 1,
        },
        "thumbnail": null,
        "languages": ["en"],
        "registrations": true,
        "approval_required": false,
        "invites_enabled": false,
        "configuration": {
            "accounts": { "max_featured_tags": 0 },
            "statuses": statuses_configuration(),
            "media_attachments": media_configuration(),
            "polls": polls_configuration(),
        },
        "contact_account": null,
        "rules": [],
    }))
}

/// `GET /api/v2/instance`.
#[handler]
pub fn instance_v2(req: &Request) -> Json<Value> {
    let origin = origin(req);
    let streaming = origin.replacen("http", "ws", 1);
    Json(json!({
        "domain": host(req),
        "title": "Microblog",
        "version": VERSION,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": DESCRIPTION,
        "usage": { "users": { "active_month": 0 } },
        "thumbnail": { "url": format!("{origin}{}", mastodon::entities::HEADER_PATH) },
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": { "streaming": streaming, "status": null },
            "vapid": { "public_key": "" },
            "accounts": { "max_featured_tags": 0, "max_pinned_statuses": 0 },
            "statuses": statuses_configuration(),
            "media_attachments": media_configuration(),
            "polls": polls_configuration(),
            "translation": { "enabled": false },
        },
        "registrations": { "enabled": true, "approval_required": false, "message": null, "url": null },
        "api_versions": { "mastodon": 2 },
        "contact": { "email": "", "account": null },
        "rules": [],
    }))
}

/// `GET /.well-known/nodeinfo`: where the NodeInfo document is.
#[handler]
pub fn nodeinfo_links(req: &Request) -> Json<Value> {
    Json(json!({
        "links": [{
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
            "href": format!("{}/nodeinfo/2.0", origin(req)),
        }]
    }))
}

/// `GET /nodeinfo/2.0`: megalodon detects the API by `software.name`.
#[handler]
pub async fn nodeinfo(Data(feeds): Data<&Arc<FeedService>>) -> Json<Value> {
    let stats = stats(feeds).await;
    Json(json!({
        "version": "2.0",
        "software": { "name": "mastodon", "version": VERSION },
        "protocols": [],
        "services": { "outbound": [], "inbound": [] },
        "usage": { "users": { "total": stats.accounts }, "localPosts": stats.posts },
        "openRegistrations": true,
        "metadata": { "nodeName": "Microblog" },
    }))
}

/// `GET /api/v1/preferences`.
#[handler]
pub fn preferences(caller: Caller) -> poem::Result<Json<Value>> {
    caller.require("read:accounts")?;
    Ok(Json(json!({
        "posting:default:visibility": "public",
        "posting:default:sensitive": false,
        "posting:default:language": null,
        "reading:expand:media": "default",
        "reading:expand:spoilers": false,
    })))
}

/// Lists, filters, custom emoji: none exist here.
#[handler]
pub fn empty_list() -> Json<Value> {
    Json(json!([]))
}

/// The default avatar and header: one transparent pixel.
#[handler]
pub fn missing_picture() -> Response {
    const PIXEL: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    Response::builder()
        .content_type("image/png")
        .header("Cache-Control", "public, max-age=86400")
        .body(PIXEL)
}
