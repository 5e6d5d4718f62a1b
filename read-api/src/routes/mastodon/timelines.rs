//! Timelines and statuses: the home timeline, an account's statuses, one
//! status and its context, each paged by Mastodon's bounds, and the
//! caller's favourites.

use std::sync::Arc;

use contracts::cursor::FeedPosition;
use contracts::ids::{PostId, UserId};
use mastodon::auth::{Caller, MaybeCaller};
use mastodon::entities::{Context, Status};
use mastodon::errors::MastodonError;
use mastodon::ids::StatusId;
use mastodon::paging::{Bounds, json_with_link, origin};
use mastodon::params::{Params, path_id};
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Request, Response, handler};
use readmodel::StoreError;

use super::render::{self, position};
use super::store_error;
use crate::feed::{FeedService, Item, Page};

/// Mastodon's default and largest page of statuses.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 40;

/// Entries read per step while looking for the ones above a lower bound.
const SCAN_PAGE: usize = 40;
/// Steps at most: a lower bound further down than this many entries gets
/// the newest ones above the scanned window (a client catching up on a
/// long gap pages on with `max_id`).
const SCAN_STEPS: usize = 10;

/// The list position a bound names: carried in the id, or the post's own.
/// `None` when the id names no post (deleted, or never one).
pub async fn resolve(feeds: &FeedService, raw: &str) -> Result<Option<FeedPosition>, StoreError> {
    let Some(id) = StatusId::parse(raw) else {
        return Ok(None);
    };
    if let Some(position) = id.position() {
        return Ok(Some(position));
    }
    let found = feeds.store().posts(&[id.post]).await?;
    Ok(found.first().map(|post| FeedPosition {
        created_at_ms: post.created_at.timestamp_millis(),
        post_id: post.id,
    }))
}

/// A page of a newest-first list within `bounds`, and the position its
/// `next` link starts after.
pub struct Bounded {
    pub items: Vec<Item>,
    pub next: Option<FeedPosition>,
}

/// A newest-first list of statuses.
#[derive(Debug, Clone, Copy)]
pub enum List {
    /// A reader's home timeline.
    Home(UserId),
    /// An author's statuses, as a reader (if any) sees them.
    Author(UserId, Option<UserId>),
}

impl List {
    async fn fetch(
        self,
        feeds: &FeedService,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        match self {
            List::Home(owner) => feeds.home_page(owner, after, limit).await,
            List::Author(author, viewer) => feeds.timeline_page(author, after, limit, viewer).await,
        }
    }
}

/// Reads `list` within Mastodon's bounds.
pub async fn bounded(
    feeds: &FeedService,
    bounds: &Bounds,
    list: List,
) -> Result<Bounded, StoreError> {
    let max = match &bounds.max_id {
        Some(raw) => match resolve(feeds, raw).await? {
            Some(position) => Some(position),
            // Past an unknown bound there is nothing to show.
            None => {
                return Ok(Bounded {
                    items: Vec::new(),
                    next: None,
                });
            }
        },
        None => None,
    };
    let lower_raw = bounds.min_id.as_ref().or(bounds.since_id.as_ref());
    let lower = match lower_raw {
        Some(raw) => resolve(feeds, raw).await?,
        None => None,
    };
    let Some(lower) = lower else {
        let page = list.fetch(feeds, max, bounds.limit).await?;
        return Ok(Bounded {
            items: page.items,
            next: page.next,
        });
    };
    let mut above = Vec::new();
    let mut after = max;
    for _ in 0..SCAN_STEPS {
        let page = list.fetch(feeds, after, SCAN_PAGE).await?;
        let mut reached = false;
        for item in page.items {
            if position(&item) <= lower {
                reached = true;
                break;
            }
            above.push(item);
        }
        match page.next {
            Some(next) if !reached => after = Some(next),
            _ => break,
        }
    }
    let items = if bounds.min_id.is_some() {
        // The ones just above the bound, still newest first.
        let skip = above.len().saturating_sub(bounds.limit);
        above.split_off(skip)
    } else {
        above.truncate(bounds.limit);
        above
    };
    let next = items.last().map(position);
    Ok(Bounded { items, next })
}

/// Statuses as JSON with their `Link` header.
pub fn statuses_response(req: &Request, page: Bounded) -> Response {
    let origin = origin(req);
    let first = page.items.first().map(position).map(render::bound);
    let next = page.next.map(render::bound);
    let statuses: Vec<Status> = page
        .items
        .iter()
        .map(|item| render::status(item, &origin))
        .collect();
    json_with_link(req, statuses, next.as_deref(), first.as_deref())
}

/// `GET /api/v1/timelines/home`.
#[handler]
pub async fn home(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    caller: Caller,
    params: Params,
) -> poem::Result<Response> {
    let user = caller.require("read:statuses")?;
    let bounds = Bounds::from_params(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = bounded(feeds, &bounds, List::Home(user))
        .await
        .map_err(store_error)?;
    Ok(statuses_response(req, page))
}

/// `GET /api/v1/accounts/:id/statuses`.
#[handler]
pub async fn account_statuses(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    MaybeCaller(viewer): MaybeCaller,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Response> {
    let author = UserId(path_id(&id)?);
    if feeds.profile(author).await.map_err(store_error)?.is_none() {
        return Err(MastodonError::not_found().into());
    }
    let bounds = Bounds::from_params(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    // No pins and no media here: those lists are empty, not the timeline.
    if params.flag("pinned")? == Some(true) || params.flag("only_media")? == Some(true) {
        return Ok(Json(Vec::<Status>::new()).into_response());
    }
    let exclude_replies = params.flag("exclude_replies")? == Some(true);
    let exclude_reblogs = params.flag("exclude_reblogs")? == Some(true);
    let mut page = bounded(feeds, &bounds, List::Author(author, viewer))
        .await
        .map_err(store_error)?;
    page.items.retain(|item| {
        let reblog = item.via_repost.is_some();
        let reply = !reblog && item.post.in_reply_to_id.is_some();
        !(exclude_reblogs && reblog || exclude_replies && reply)
    });
    Ok(statuses_response(req, page))
}

fn post_id(raw: &str) -> poem::Result<PostId> {
    StatusId::parse(raw)
        .map(|id| id.post)
        .ok_or_else(|| MastodonError::not_found().into())
}

/// `GET /api/v1/statuses/:id`.
#[handler]
pub async fn status(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    MaybeCaller(viewer): MaybeCaller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let item = feeds
        .post(post_id(&id)?, viewer)
        .await
        .map_err(store_error)?
        .ok_or_else(MastodonError::not_found)?;
    Ok(Json(render::status(&item, &origin(req))))
}

/// `GET /api/v1/statuses/:id/context`.
#[handler]
pub async fn context(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    MaybeCaller(viewer): MaybeCaller,
    Path(id): Path<String>,
) -> poem::Result<Json<Context>> {
    let context = feeds
        .context(post_id(&id)?, viewer)
        .await
        .map_err(store_error)?
        .ok_or_else(MastodonError::not_found)?;
    let origin = origin(req);
    let statuses = |items: &[Item]| items.iter().map(|i| render::status(i, &origin)).collect();
    Ok(Json(Context {
        ancestors: statuses(&context.ancestors),
        descendants: statuses(&context.descendants),
    }))
}

/// `GET /api/v1/favourites`: the caller's liked statuses, newest like
/// first. Its bounds are like ids (opaque to clients, which follow `Link`).
#[handler]
pub async fn favourites(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    caller: Caller,
    params: Params,
) -> poem::Result<Response> {
    let user = caller.require("read:favourites")?;
    let bounds = Bounds::from_params(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let like_id = |raw: Option<&String>| raw.and_then(|raw| raw.parse::<i64>().ok());
    let before = like_id(bounds.max_id.as_ref());
    let after = like_id(bounds.min_id.as_ref().or(bounds.since_id.as_ref()));
    let page = feeds
        .favourites(user, before, after, bounds.limit)
        .await
        .map_err(store_error)?;
    let origin = origin(req);
    let statuses: Vec<Status> = page
        .items
        .iter()
        .map(|item| render::status(item, &origin))
        .collect();
    let next = page.next.map(|id| id.to_string());
    let first = page.first.map(|id| id.to_string());
    Ok(json_with_link(
        req,
        statuses,
        next.as_deref(),
        first.as_deref(),
    ))
}
