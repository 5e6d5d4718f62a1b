//! Response bodies of the read API and the cursor helpers every paged
//! route shares.

use chrono::{DateTime, Utc};
use contracts::cursor::{Cursor, CursorError, FeedPosition, Scope};
use contracts::views::ProfileView;
use poem_openapi::Object;
use poem_openapi::payload::Json;
use readmodel::FollowEdge;
use readmodel::{PostCounts, ProfileRecord};
use serde::{Serialize, Serializer};

use super::typed_json::TypedJson;
use crate::feed::{Item, Page};
use crate::people::ProfilePage;
use platform::error::ApiError;

/// A post.
#[derive(Debug, Object, Serialize)]
pub struct PostView {
    id: String,
    text: String,
    #[serde(serialize_with = "rfc3339")]
    created_at: DateTime<Utc>,
    /// When the text was last changed; null if never.
    #[oai(nullable)]
    #[serde(serialize_with = "optional_rfc3339")]
    edited_at: Option<DateTime<Utc>>,
}

/// Times as poem-openapi writes them (`+00:00`, not serde's `Z`), so a
/// body reads the same whichever way it was serialized.
fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

fn optional_rfc3339<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

/// A post's author.
#[derive(Debug, Object, Serialize)]
pub struct AuthorView {
    id: String,
    username: String,
    display_name: String,
}

impl AuthorView {
    /// An author for documentation examples.
    pub fn example_author(id: &str, username: &str, display_name: &str) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            display_name: display_name.into(),
        }
    }
}

impl From<ProfileRecord> for AuthorView {
    fn from(p: ProfileRecord) -> Self {
        Self {
            id: p.id.to_string(),
            username: p.username,
            display_name: p.display_name,
        }
    }
}

/// How many accounts engaged with a post. May lag a write by the
/// pipeline's delay.
#[derive(Debug, Object, Serialize)]
pub struct CountsView {
    likes: i64,
    replies: i64,
    reposts: i64,
}

/// What the signed-in reader did to the post; never lags their own writes
/// when they send the write's `Consistency-Token`.
#[derive(Debug, Object, Serialize)]
pub struct ViewerView {
    liked: bool,
    reposted: bool,
}

/// A feed item.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct ItemView {
    post: PostView,
    author: AuthorView,
    counts: CountsView,
    /// The post this one answers; null if it is not a reply.
    #[oai(nullable)]
    in_reply_to_id: Option<String>,
    /// Present on authenticated reads.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    viewer: Option<ViewerView>,
    /// Who reposted the post, when it reached this list as a repost.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    reposted_by: Option<AuthorView>,
}

/// A page of items.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct PageView {
    items: Vec<ItemView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page of profiles.
#[derive(Object)]
#[oai(example)]
pub struct ProfilePageView {
    items: Vec<ProfileView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// Profiles found by a search.
#[derive(Object)]
#[oai(example)]
pub struct ProfilesView {
    pub items: Vec<ProfileView>,
}

/// A post's thread: what it answers and what answers it.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct ContextView {
    /// Oldest first, at most 40.
    pub ancestors: Vec<ItemView>,
    /// Depth-first, each post's replies oldest first, at most 200.
    pub descendants: Vec<ItemView>,
}

impl poem_openapi::types::Example for ItemView {
    fn example() -> Self {
        let created_at = DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default();
        ItemView {
            post: PostView {
                id: "42".into(),
                text: "Hello, followers!".into(),
                created_at,
                edited_at: None,
            },
            author: AuthorView::example_author("1", "alice", "Alice"),
            counts: CountsView {
                likes: 3,
                replies: 1,
                reposts: 0,
            },
            in_reply_to_id: None,
            viewer: Some(ViewerView {
                liked: true,
                reposted: false,
            }),
            reposted_by: Some(AuthorView::example_author("7", "bob", "Bob")),
        }
    }
}

impl poem_openapi::types::Example for PageView {
    fn example() -> Self {
        Self {
            items: vec![poem_openapi::types::Example::example()],
            next_cursor: Some("AQEAAAAAAAAAAQAAAZqtQ2wAAAAAAAAAACr5sC9T".into()),
        }
    }
}

impl poem_openapi::types::Example for ProfilePageView {
    fn example() -> Self {
        Self {
            items: vec![poem_openapi::types::Example::example()],
            next_cursor: Some("AQQAAAAAAAAAAQAAAZqtQ2wAAAAAAAAAAAd1p0cE".into()),
        }
    }
}

impl poem_openapi::types::Example for ProfilesView {
    fn example() -> Self {
        Self {
            items: vec![poem_openapi::types::Example::example()],
        }
    }
}

impl poem_openapi::types::Example for ContextView {
    fn example() -> Self {
        let mut reply: ItemView = poem_openapi::types::Example::example();
        reply.post.id = "43".into();
        reply.post.text = "Hello back!".into();
        reply.in_reply_to_id = Some("42".into());
        Self {
            ancestors: vec![poem_openapi::types::Example::example()],
            descendants: vec![reply],
        }
    }
}

impl From<Item> for ItemView {
    fn from(item: Item) -> Self {
        let PostCounts {
            likes,
            replies,
            reposts,
            ..
        } = item.counts;
        Self {
            in_reply_to_id: item.post.in_reply_to_id.map(|p| p.to_string()),
            post: PostView {
                id: item.post.id.to_string(),
                text: item.post.text,
                created_at: item.post.created_at,
                edited_at: item.post.edited_at,
            },
            author: AuthorView::from(item.author),
            counts: CountsView {
                likes,
                replies,
                reposts,
            },
            viewer: item.viewer.map(|v| ViewerView {
                liked: v.liked,
                reposted: v.reposted,
            }),
            reposted_by: item.reposted_by.map(AuthorView::from),
        }
    }
}

/// Decodes an optional cursor for `scope`.
pub fn after(cursor: Option<&str>, scope: Scope) -> Result<Option<FeedPosition>, CursorError> {
    cursor
        .map(|c| Cursor::decode(c, scope))
        .transpose()
        .map(|c| c.map(|c| c.after))
}

pub fn bad_cursor(e: CursorError) -> ApiError {
    ApiError::bad_field("cursor", e.to_string())
}

pub fn page_view(page: Page, scope: Scope) -> TypedJson<PageView> {
    TypedJson(PageView {
        items: page.items.into_iter().map(ItemView::from).collect(),
        next_cursor: page.next.map(|after| Cursor { scope, after }.encode()),
    })
}

/// A follow list's cursor carries (followed at, account) in a position's
/// (created at, post) places.
pub fn edge_after(cursor: Option<&str>, scope: Scope) -> Result<Option<FollowEdge>, CursorError> {
    let position = after(cursor, scope)?;
    Ok(position.map(|p| FollowEdge {
        followed_at_ms: p.created_at_ms,
        user: contracts::ids::UserId(p.post_id.0),
    }))
}

pub fn profile_page_view(page: ProfilePage, scope: Scope) -> Json<ProfilePageView> {
    let next = page.next.map(|edge| {
        let after = FeedPosition {
            created_at_ms: edge.followed_at_ms,
            post_id: contracts::ids::PostId(edge.user.0),
        };
        Cursor { scope, after }.encode()
    });
    Json(ProfilePageView {
        items: page.profiles.into_iter().map(ProfileView::from).collect(),
        next_cursor: next,
    })
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::{Example, ToJSON};
    use proptest::prelude::*;

    use super::*;

    /// The bytes a `TypedJson` body writes, read back.
    fn typed<T: Serialize>(view: &T) -> serde_json::Value {
        serde_json::from_slice(&serde_json::to_vec(view).expect("serializes")).expect("is JSON")
    }

    fn author() -> impl Strategy<Value = AuthorView> {
        (any::<String>(), any::<String>(), any::<String>()).prop_map(
            |(id, username, display_name)| AuthorView {
                id,
                username,
                display_name,
            },
        )
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_000_000_000, 0u32..1_000_000_000)
            .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap_or_default())
    }

    fn item() -> impl Strategy<Value = ItemView> {
        (
            (any::<String>(), time(), proptest::option::of(time())),
            author(),
            (any::<i64>(), any::<i64>(), any::<i64>()),
            proptest::option::of(any::<String>()),
            proptest::option::of((any::<bool>(), any::<bool>())),
            proptest::option::of(author()),
        )
            .prop_map(
                |((text, created_at, edited_at), author, counts, reply, viewer, reposted_by)| {
                    ItemView {
                        post: PostView {
                            id: "42".into(),
                            text,
                            created_at,
                            edited_at,
                        },
                        author,
                        counts: CountsView {
                            likes: counts.0,
                            replies: counts.1,
                            reposts: counts.2,
                        },
                        in_reply_to_id: reply,
                        viewer: viewer.map(|(liked, reposted)| ViewerView { liked, reposted }),
                        reposted_by,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn a_typed_page_reads_as_its_openapi_object(
            items in proptest::collection::vec(item(), 0..4),
            next_cursor in proptest::option::of("[A-Za-z0-9_-]{1,40}"),
        ) {
            let page = PageView { items, next_cursor };
            prop_assert_eq!(typed(&page), page.to_json().expect("an object"));
        }
    }

    #[test]
    fn typed_examples_read_as_their_openapi_objects() {
        let context = ContextView::example();
        assert_eq!(typed(&context), context.to_json().expect("an object"));
        let page = PageView::example();
        assert_eq!(typed(&page), page.to_json().expect("an object"));
    }
}
