//! The OpenAPI document a host serves: poem-openapi's, plus the links
//! between operations (which poem-openapi cannot declare), so clients and
//! stateful contract testers (schemathesis) can follow a created resource
//! to the operations that read, edit and delete it.

use poem::http::header;
use poem::{Endpoint, Response, endpoint::make_sync};
use serde_json::{Map, Value, json};

/// One OpenAPI link: after `from` answers `status`, `to` may be called
/// with `parameters` (runtime expressions such as `$response.body#/id`).
pub struct Link {
    pub from: &'static str,
    pub status: &'static str,
    pub name: &'static str,
    pub to: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
}

/// `spec` with `links` added to the responses they start from. A link
/// whose operation or status is not in the document is left out and
/// logged; [`missing_links`] lets a test prove there is none.
pub fn with_links(spec: &str, links: &[Link]) -> String {
    let mut doc: Value = match serde_json::from_str(spec) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document is not JSON; serving it without links");
            return spec.to_owned();
        }
    };
    for link in links {
        if !add_link(&mut doc, link) {
            tracing::error!(from = link.from, to = link.to, "OpenAPI link left out");
        }
    }
    doc.to_string()
}

/// The links among `links` that [`with_links`] cannot attach to `spec`.
pub fn missing_links(spec: &str, links: &[Link]) -> Vec<&'static str> {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return links.iter().map(|l| l.name).collect();
    };
    links
        .iter()
        .filter(|link| !add_link(&mut doc, link))
        .map(|link| link.name)
        .collect()
}

/// Serves `spec` as `application/json`.
pub fn endpoint(spec: String) -> impl Endpoint {
    make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(spec.clone())
    })
}

fn operation_ids(doc: &Value) -> impl Iterator<Item = &str> {
    doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values())
        .filter_map(|op| op["operationId"].as_str())
}

fn add_link(doc: &mut Value, link: &Link) -> bool {
    if !operation_ids(doc).any(|id| id == link.to) {
        return false;
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return false;
    };
    let source = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|methods| methods.values_mut())
        .find(|op| op["operationId"] == link.from);
    let Some(response) = source.and_then(|op| op["responses"].get_mut(link.status)) else {
        return false;
    };
    let Some(response) = response.as_object_mut() else {
        return false;
    };
    let links = response
        .entry("links")
        .or_insert_with(|| Value::Object(Map::new()));
    let parameters: Map<String, Value> = link
        .parameters
        .iter()
        .map(|(name, expr)| ((*name).to_owned(), json!(expr)))
        .collect();
    links[link.name] = json!({ "operationId": link.to, "parameters": parameters });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/v1/posts": {"post": {"operationId": "create_post", "responses": {"201": {"description": "made"}}}},
        "/v1/posts/{id}": {"delete": {"operationId": "delete_post", "responses": {"204": {"description": "gone"}}}}
    }}"#;

    const LINKS: &[Link] = &[Link {
        from: "create_post",
        status: "201",
        name: "DeletePost",
        to: "delete_post",
        parameters: &[("id", "$response.body#/id")],
    }];

    #[test]
    fn links_land_on_the_response_they_start_from() {
        let doc: Value = serde_json::from_str(&with_links(SPEC, LINKS)).unwrap();
        assert_eq!(
            doc["paths"]["/v1/posts"]["post"]["responses"]["201"]["links"]["DeletePost"],
            json!({"operationId": "delete_post", "parameters": {"id": "$response.body#/id"}})
        );
        assert!(missing_links(SPEC, LINKS).is_empty());
    }

    #[test]
    fn links_to_unknown_operations_or_statuses_are_reported() {
        let wrong = [
            Link {
                to: "nothing",
                ..LINKS[0]
            },
            Link {
                status: "200",
                ..LINKS[0]
            },
        ];
        assert_eq!(
            missing_links(SPEC, &wrong),
            vec!["DeletePost", "DeletePost"]
        );
        assert!(!with_links(SPEC, &wrong).contains("links"));
    }
}
