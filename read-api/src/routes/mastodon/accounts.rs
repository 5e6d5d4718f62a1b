//! Accounts: the caller's own, lookups, follow lists, relationships and
//! account search.

use std::sync::Arc;

use contracts::ids::UserId;
use mastodon::auth::{Caller, MaybeCaller};
use mastodon::entities::{Account, Relationship};
use mastodon::errors::MastodonError;
use mastodon::ids::StatusId;
use mastodon::paging::{Bounds, json_with_link, origin};
use mastodon::params::Params;
use poem::web::{Data, Json, Path};
use poem::{Request, Response, handler};
use readmodel::social::{Engagement, FollowList};
use readmodel::{FollowEdge, ProfileRecord};

use super::render::{self, account_parts};
use super::store_error;
use crate::feed::FeedService;
use crate::people::MAX_QUERY_CHARS;
use mastodon::params::path_id;

/// Mastodon's default and largest page of accounts.
const DEFAULT_LIMIT: usize = 40;
const MAX_LIMIT: usize = 80;

/// `GET /api/v1/accounts/verify_credentials`: the caller's own account.
#[handler]
pub async fn verify_credentials(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    caller: Caller,
) -> poem::Result<Json<Account>> {
    let user = caller.require("read:accounts")?;
    let profile = feeds
        .profile(user)
        .await
        .map_err(store_error)?
        .ok_or_else(MastodonError::not_found)?;
    Ok(Json(Account::credential(
        account_parts(&profile),
        &origin(req),
    )))
}

/// `GET /api/v1/accounts/:id`.
#[handler]
pub async fn show(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    Path(id): Path<String>,
) -> poem::Result<Json<Account>> {
    let profile = feeds
        .profile(UserId(path_id(&id)?))
        .await
        .map_err(store_error)?
        .ok_or_else(MastodonError::not_found)?;
    Ok(Json(render::account(&profile, &origin(req))))
}

/// The local username an `acct` names: `name`, `@name` or
/// `name@this-host`.
fn local_username<'a>(acct: &'a str, req: &Request) -> Option<&'a str> {
    let acct = acct.trim().trim_start_matches('@');
    match acct.split_once('@') {
        None => Some(acct),
        Some((name, domain)) => {
            let host = origin(req);
            let host = host.split_once("://").map_or(host.as_str(), |(_, h)| h);
            let host = host.split(':').next().unwrap_or_default();
            (domain.eq_ignore_ascii_case(host)).then_some(name)
        }
    }
}

/// `GET /api/v1/accounts/lookup?acct=`.
#[handler]
pub async fn lookup(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    params: Params,
) -> poem::Result<Json<Account>> {
    let acct = params
        .text("acct")
        .ok_or_else(|| MastodonError::unprocessable("acct is missing"))?;
    let username = local_username(acct, req).ok_or_else(MastodonError::not_found)?;
    let profile = feeds
        .profile_by_username(username)
        .await
        .map_err(store_error)?
        .ok_or_else(MastodonError::not_found)?;
    Ok(Json(render::account(&profile, &origin(req))))
}

/// A follow edge as a `Link` bound: its time and account, as a status
/// id carries a post's.
fn edge_bound(edge: FollowEdge) -> String {
    StatusId::new(contracts::ids::PostId(edge.user.0), edge.followed_at_ms).to_string()
}

fn edge_after(raw: Option<&str>) -> Option<FollowEdge> {
    let id = StatusId::parse(raw?)?;
    Some(FollowEdge {
        followed_at_ms: id.created_at_ms?,
        user: UserId(id.post.0),
    })
}

async fn follow_list(
    feeds: &FeedService,
    req: &Request,
    id: &str,
    params: &Params,
    list: fn(UserId) -> FollowList,
) -> poem::Result<Response> {
    let account = UserId(path_id(id)?);
    if feeds.profile(account).await.map_err(store_error)?.is_none() {
        return Err(MastodonError::not_found().into());
    }
    let bounds = Bounds::from_params(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    // Only this API's own links carry a follow list's bounds.
    let after = edge_after(bounds.max_id.as_deref());
    let page = feeds
        .follow_list(list(account), after, bounds.limit)
        .await
        .map_err(store_error)?;
    Ok(account_page(req, &page.profiles, page.next.map(edge_bound)))
}

/// A page of accounts, with a `Link` to the page after `next`.
fn account_page(req: &Request, profiles: &[ProfileRecord], next: Option<String>) -> Response {
    let origin = origin(req);
    let accounts: Vec<Account> = profiles
        .iter()
        .map(|p| render::account(p, &origin))
        .collect();
    json_with_link(req, accounts, next.as_deref(), None)
}

/// `GET /api/v1/accounts/:id/followers`.
#[handler]
pub async fn followers(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Response> {
    follow_list(feeds, req, &id, &params, FollowList::Followers).await
}

/// `GET /api/v1/accounts/:id/following`.
#[handler]
pub async fn following(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Response> {
    follow_list(feeds, req, &id, &params, FollowList::Following).await
}

async fn engaged_by(
    feeds: &FeedService,
    req: &Request,
    id: &str,
    params: &Params,
    kind: Engagement,
) -> poem::Result<Response> {
    let post = StatusId::parse(id)
        .ok_or_else(MastodonError::not_found)?
        .post;
    if feeds.post(post, None).await.map_err(store_error)?.is_none() {
        return Err(MastodonError::not_found().into());
    }
    let bounds = Bounds::from_params(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    // The list is ordered by account id, so its bounds are account ids.
    let before = bounds.max_id.as_deref().and_then(|raw| raw.parse().ok());
    let page = feeds
        .engaged_by(kind, post, before.map(UserId), bounds.limit)
        .await
        .map_err(store_error)?;
    let next = page.next.map(|user| user.0.to_string());
    Ok(account_page(req, &page.profiles, next))
}

/// `GET /api/v1/statuses/:id/favourited_by`.
#[handler]
pub async fn favourited_by(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Response> {
    engaged_by(feeds, req, &id, &params, Engagement::Like).await
}

/// `GET /api/v1/statuses/:id/reblogged_by`.
#[handler]
pub async fn reblogged_by(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Response> {
    engaged_by(feeds, req, &id, &params, Engagement::Repost).await
}

/// Most accounts one relationships request may ask about.
const MAX_RELATIONSHIPS: usize = 40;

/// `GET /api/v1/accounts/relationships?id[]=`.
#[handler]
pub async fn relationships(
    Data(feeds): Data<&Arc<FeedService>>,
    caller: Caller,
    params: Params,
) -> poem::Result<Json<Vec<Relationship>>> {
    let user = caller.require("read:follows")?;
    let ids: Vec<UserId> = params
        .all("id")
        .into_iter()
        .filter_map(|raw| raw.parse().ok().filter(|id: &i64| *id > 0).map(UserId))
        .take(MAX_RELATIONSHIPS)
        .collect();
    let store = feeds.store();
    let (followed, following_me) = tokio::try_join!(
        store.not_followed_among(user, &ids),
        store.followers_among(user, &ids),
    )
    .map_err(store_error)?;
    Ok(Json(
        ids.iter()
            .map(|id| Relationship::new(*id, !followed.contains(id), following_me.contains(id)))
            .collect(),
    ))
}

/// `GET /api/v2/search`: accounts whose username or display name starts
/// with `q`. Statuses and hashtags are not searched here.
#[handler]
pub async fn search(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    MaybeCaller(_): MaybeCaller,
    params: Params,
) -> poem::Result<Json<serde_json::Value>> {
    let q = params.text("q").unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(MastodonError::unprocessable(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        ))
        .into());
    }
    let limit = params.limit("limit", 20, 40)?;
    let wants_accounts = params.text("type").is_none_or(|t| t == "accounts");
    let accounts = match local_username(q, req) {
        Some(name) if wants_accounts => feeds
            .search_profiles(name, limit)
            .await
            .map_err(store_error)?,
        _ => Vec::new(),
    };
    let origin = origin(req);
    let accounts: Vec<Account> = accounts
        .iter()
        .map(|p| render::account(p, &origin))
        .collect();
    Ok(Json(serde_json::json!({
        "accounts": accounts,
        "statuses": [],
        "hashtags": [],
    })))
}
