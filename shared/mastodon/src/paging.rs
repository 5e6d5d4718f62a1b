//! Mastodon's paging: `max_id`, `since_id`, `min_id` and `limit` in, a
//! `Link` header out (`rel="next"` first, as toot finds only that order;
//! absolute URLs, as masto.js requires).

use poem::Request;

use crate::errors::MastodonError;
use crate::params::Params;

/// The bounds a list request sent, as raw ids (status, notification or
/// account ids: the route decodes them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Strictly older than this.
    pub max_id: Option<String>,
    /// Strictly newer than this, newest first.
    pub since_id: Option<String>,
    /// Strictly newer than this, the ones just above it.
    pub min_id: Option<String>,
    pub limit: usize,
}

impl Bounds {
    pub fn from_params(params: &Params, default: usize, max: usize) -> Result<Self, MastodonError> {
        let id = |name: &str| params.text(name).map(str::to_owned);
        Ok(Self {
            max_id: id("max_id"),
            since_id: id("since_id"),
            min_id: id("min_id"),
            limit: params.limit("limit", default, max)?,
        })
    }
}

/// The origin clients reached: the front door's scheme and host (with its
/// port), so links lead back through it.
pub fn origin(req: &Request) -> String {
    let scheme = req
        .header("x-forwarded-proto")
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let host = req
        .header(poem::http::header::HOST)
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// The `Link` header of a page: `next` bounded by its oldest entry,
/// `prev` by its newest; `None` for an empty page.
pub fn link_header(
    req: &Request,
    next_max_id: Option<&str>,
    prev_min_id: Option<&str>,
) -> Option<String> {
    let base = format!("{}{}", origin(req), req.uri().path());
    let kept: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.uri().query().unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "max_id" | "since_id" | "min_id"))
            .collect();
    let url = |bound: &str, id: &str| {
        let mut query = kept.clone();
        query.push((bound.to_owned(), id.to_owned()));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{base}?{encoded}")
    };
    let mut links = Vec::new();
    if let Some(id) = next_max_id {
        links.push(format!("<{}>; rel=\"next\"", url("max_id", id)));
    }
    if let Some(id) = prev_min_id {
        links.push(format!("<{}>; rel=\"prev\"", url("min_id", id)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// `body` as JSON with the `Link` header of its page.
pub fn json_with_link<T: serde::Serialize + Send>(
    req: &Request,
    body: T,
    next_max_id: Option<&str>,
    prev_min_id: Option<&str>,
) -> poem::Response {
    use poem::IntoResponse;
    let mut response = poem::web::Json(body).into_response();
    if let Some(link) = link_header(req, next_max_id, prev_min_id)
        && let Ok(value) = link.parse()
    {
        response.headers_mut().insert("Link", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_query_and_lead_back_through_the_front_door() {
        let req = Request::builder()
            .uri(
                "/api/v1/timelines/home?limit=5&max_id=9&types%5B%5D=mention"
                    .parse()
                    .unwrap(),
            )
            .header("host", "social.localhost:8000")
            .header("x-forwarded-proto", "https")
            .finish();
        assert_eq!(
            link_header(&req, Some("3"), Some("8")).unwrap(),
            "<https://social.localhost:8000/api/v1/timelines/home?limit=5&types%5B%5D=mention&max_id=3>; rel=\"next\", \
             <https://social.localhost:8000/api/v1/timelines/home?limit=5&types%5B%5D=mention&min_id=8>; rel=\"prev\""
        );
        assert_eq!(link_header(&req, None, None), None);
    }

    #[test]
    fn a_forged_host_is_not_echoed() {
        let req = Request::builder()
            .uri("/api/v1/x".parse().unwrap())
            .header("host", "evil\"><script>")
            .finish();
        assert_eq!(origin(&req), "http://localhost");
    }
}
