//! Statuses, favourites and reblogs: each runs the same command
//! as the native route (same limits, key lock, outbox event, idempotency)
//! and answers with the Mastodon entity it changed, read back in the
//! command's transaction so an idempotent replay answers the same.

use std::sync::Arc;

use contracts::consistency::ConsistencyToken;
use contracts::ids::{PostId, UserId};
use mastodon::auth::Caller;
use mastodon::entities::Status;
use mastodon::errors::MastodonError;
use mastodon::ids::StatusId;
use mastodon::paging::origin;
use mastodon::params::Params;
use poem::web::{Data, Json, Path};
use poem::{Request, handler};
use serde_json::json;
use sqlx::PgConnection;

use super::api;
use crate::idempotency::{self, Request as Command};
use crate::routes::posts::{like_error, post_error, repost_error};
use crate::state::AppState;
use crate::{likes, mastodon_views, posts, reposts};
use mastodon::params::path_id;
use platform::error::{ApiError, ApiResult};

fn idempotency_key(req: &Request) -> poem::Result<Option<String>> {
    match req.header("Idempotency-Key") {
        Some(key) if key.len() > 64 => Err(MastodonError::unprocessable(
            "Idempotency-Key must be at most 64 characters",
        )
        .into()),
        key => Ok(key.map(str::to_owned)),
    }
}

/// The status `post` as `viewer` now sees it, in the command's transaction.
async fn render(
    conn: &mut PgConnection,
    viewer: UserId,
    post: PostId,
    origin: &str,
) -> ApiResult<Status> {
    mastodon_views::status(conn, viewer, post, origin)
        .await?
        .ok_or_else(|| ApiError::not_found("Record not found"))
}

/// Parameters this API does not support are refused rather than ignored,
/// so nobody believes a post private or hidden that is public.
fn refuse_unsupported(params: &Params) -> poem::Result<()> {
    if !params.all("media_ids").is_empty() {
        return Err(MastodonError::unprocessable("media attachments are not supported").into());
    }
    if params.get("poll[options][]").is_some() || params.get("poll[expires_in]").is_some() {
        return Err(MastodonError::unprocessable("polls are not supported").into());
    }
    if params.text("spoiler_text").is_some() {
        return Err(MastodonError::unprocessable("content warnings are not supported").into());
    }
    if params.text("scheduled_at").is_some() {
        return Err(MastodonError::unprocessable("scheduled statuses are not supported").into());
    }
    match params.text("visibility") {
        None | Some("public") | Some("unlisted") => Ok(()),
        Some(other) => Err(MastodonError::unprocessable(format!(
            "visibility {other} is not supported: every status here is public"
        ))
        .into()),
    }
}

fn status_text(params: &Params) -> poem::Result<String> {
    posts::validate_text(params.get("status").unwrap_or_default())
        .map_err(|m| MastodonError::unprocessable(format!("Validation failed: Text {m}")).into())
}

/// `POST /api/v1/statuses`.
#[handler]
pub async fn create(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    params: Params,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:statuses")?;
    refuse_unsupported(&params)?;
    let text = status_text(&params)?;
    let in_reply_to = match params.text("in_reply_to_id") {
        Some(raw) => Some(
            StatusId::parse(raw)
                .ok_or_else(MastodonError::not_found)?
                .post,
        ),
        None => None,
    };
    let key = idempotency_key(req)?;
    state
        .writes
        .posts
        .admit(&state.db, &user.to_string())
        .await
        .map_err(api)?;
    let origin = origin(req);
    let fingerprint = json!({"status": text, "in_reply_to_id": in_reply_to.map(|p| p.0)});
    let command = Command::new(
        user,
        key.as_deref(),
        "POST",
        "/api/v1/statuses",
        &fingerprint,
    );
    let (status, token) = idempotency::run(&state.db, user, command, async |tx| {
        let (id, _, event) = posts::create(tx, user, &text, in_reply_to)
            .await
            .map_err(post_error)?;
        Ok((
            render(tx, user, id, &origin).await?,
            ConsistencyToken::of(event),
        ))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(status))
}

/// `PUT /api/v1/statuses/:id`: edits the text.
#[handler]
pub async fn edit(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:statuses")?;
    refuse_unsupported(&params)?;
    let post = PostId(path_id(&id)?);
    let text = status_text(&params)?;
    let key = idempotency_key(req)?;
    let origin = origin(req);
    let path = format!("/api/v1/statuses/{}", post.0);
    let command = Command::new(user, key.as_deref(), "PUT", &path, &json!({"status": text}));
    let (status, token) = idempotency::run(&state.db, user, command, async |tx| {
        let (_, event) = posts::edit(tx, user, post, &text)
            .await
            .map_err(post_error)?;
        Ok((
            render(tx, user, post, &origin).await?,
            ConsistencyToken::of(event),
        ))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(status))
}

/// `DELETE /api/v1/statuses/:id`: answers with the deleted status and its
/// source text.
#[handler]
pub async fn delete(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:statuses")?;
    let post = PostId(path_id(&id)?);
    let key = idempotency_key(req)?;
    let origin = origin(req);
    let path = format!("/api/v1/statuses/{}", post.0);
    let command = Command::new(user, key.as_deref(), "DELETE", &path, &());
    let (status, token) = idempotency::run(&state.db, user, command, async |tx| {
        let owned: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM posts WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL",
        )
        .bind(post.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        if owned.is_none() {
            return Err(ApiError::not_found("Record not found"));
        }
        let event = posts::delete(tx, user, post).await.map_err(post_error)?;
        Ok((
            render(tx, user, post, &origin).await?,
            event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
        ))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(status))
}

/// A favourite or a reblog, done or undone.
#[derive(Clone, Copy)]
enum Engagement {
    Favourite,
    Reblog,
}

async fn engage(
    state: &AppState,
    req: &Request,
    user: UserId,
    id: &str,
    kind: Engagement,
    on: bool,
) -> poem::Result<Json<Status>> {
    let post = PostId(path_id(id)?);
    // The lock key and the limit are the native routes': a like changes its
    // post's author, a repost its reposter's fan-out.
    let (key_owner, limit, verb) = match kind {
        Engagement::Favourite => {
            let author = likes::post_author(&state.db, post)
                .await
                .map_err(|e| api(like_error(e)))?;
            (author, &state.writes.likes, "favourite")
        }
        Engagement::Reblog => (user, &state.writes.reposts, "reblog"),
    };
    limit
        .admit(&state.db, &user.to_string())
        .await
        .map_err(api)?;
    let key = idempotency_key(req)?;
    let origin = origin(req);
    let undo = if on { "" } else { "un" };
    let path = format!("/api/v1/statuses/{}/{undo}{verb}", post.0);
    let command = Command::new(user, key.as_deref(), "POST", &path, &());
    let (status, token) = idempotency::run(&state.db, key_owner, command, async |tx| {
        let event = match kind {
            Engagement::Favourite => likes::set(tx, user, post, on).await.map_err(like_error)?,
            Engagement::Reblog => reposts::set(tx, user, post, on)
                .await
                .map_err(repost_error)?,
        };
        let status = match kind {
            // A reblog answers with the status that wraps the reblogged one.
            Engagement::Reblog if on => mastodon_views::reblog(tx, user, post, &origin)
                .await?
                .ok_or_else(|| ApiError::not_found("Record not found"))?,
            _ => render(tx, user, post, &origin).await?,
        };
        Ok((
            status,
            event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
        ))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(status))
}

/// `POST /api/v1/statuses/:id/favourite`.
#[handler]
pub async fn favourite(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:favourites")?;
    engage(state, req, user, &id, Engagement::Favourite, true).await
}

/// `POST /api/v1/statuses/:id/unfavourite`.
#[handler]
pub async fn unfavourite(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:favourites")?;
    engage(state, req, user, &id, Engagement::Favourite, false).await
}

/// `POST /api/v1/statuses/:id/reblog`: answers with the reblog, which
/// wraps the status.
#[handler]
pub async fn reblog(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:statuses")?;
    engage(state, req, user, &id, Engagement::Reblog, true).await
}

/// `POST /api/v1/statuses/:id/unreblog`: answers with the status.
#[handler]
pub async fn unreblog(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Status>> {
    let user = caller.require("write:statuses")?;
    engage(state, req, user, &id, Engagement::Reblog, false).await
}
