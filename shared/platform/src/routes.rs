//! The API's route templates from its OpenAPI document: which route a
//! request is for, before or after it is served (metrics labels, problem
//! bodies naming path variables, read routes that may wait).

use std::collections::HashMap;
use std::sync::Arc;

use poem::Response;

/// The API's route templates, read from its OpenAPI document: by
/// poem-openapi operation id (the `route` label of the HTTP metrics) and by
/// method (to tell which route a request is for before it is served).
#[derive(Clone, Debug, Default)]
pub struct RouteTemplates {
    by_operation: Arc<HashMap<String, String>>,
    /// (method in upper case, the template's path segments).
    by_method: Arc<Vec<(String, Vec<String>)>>,
}

impl RouteTemplates {
    /// Reads every `paths.<template>.<method>.operationId` of `spec_json`.
    pub fn from_spec(spec_json: &str) -> RouteTemplates {
        let spec: serde_json::Value =
            serde_json::from_str(spec_json).expect("poem-openapi renders its document as JSON");
        let mut by_operation = HashMap::new();
        let mut by_method = Vec::new();
        for (path, methods) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                if let Some(id) = operation["operationId"].as_str() {
                    by_operation.insert(id.to_owned(), path.clone());
                }
                let segments = path.split('/').map(str::to_owned).collect();
                by_method.push((method.to_ascii_uppercase(), segments));
            }
        }
        RouteTemplates {
            by_operation: Arc::new(by_operation),
            by_method: Arc::new(by_method),
        }
    }

    /// Adds routes served outside the OpenAPI document (the Mastodon API's),
    /// as (method, `/path/{variable}` template).
    pub fn with_routes(self, routes: &[(String, String)]) -> RouteTemplates {
        let mut by_method = (*self.by_method).clone();
        by_method.extend(routes.iter().map(|(method, template)| {
            (
                method.to_ascii_uppercase(),
                template.split('/').map(str::to_owned).collect(),
            )
        }));
        RouteTemplates {
            by_operation: self.by_operation,
            by_method: Arc::new(by_method),
        }
    }

    /// The segments of the template that `method` and `path` are an
    /// instance of, if any (a `{variable}` matches one non-empty segment).
    pub fn find(&self, method: &str, path: &str) -> Option<&[String]> {
        let segments: Vec<&str> = path.split('/').collect();
        self.by_method
            .iter()
            .find(|(m, template)| {
                m == method
                    && template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .map(|(_, template)| template.as_slice())
    }

    /// The documented name of the `index`th path variable of the route of
    /// `method` and `path` (poem-openapi reports them as `param0`, …).
    pub fn path_variable(&self, method: &str, path: &str, index: usize) -> Option<String> {
        self.find(method, path)?
            .iter()
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .nth(index)
            .map(str::to_owned)
    }

    /// The template that served `response` (a documented operation's, or
    /// one added by [`RouteTemplates::with_routes`] that `method` and
    /// `path` match); the operational routes by their path; anything else
    /// (documentation assets, unknown paths) as `other`, so the label's
    /// values stay few whatever clients send.
    pub(crate) fn label(&self, method: &str, path: &str, response: &Response) -> String {
        if let Some(template) = response
            .data::<poem_openapi::OperationId>()
            .and_then(|id| self.by_operation.get(id.0))
        {
            return template.clone();
        }
        if response.status() != poem::http::StatusCode::NOT_FOUND
            && response.status() != poem::http::StatusCode::METHOD_NOT_ALLOWED
            && let Some(template) = self.find(method, path)
        {
            return template.join("/");
        }
        match path {
            "/health" | "/ready" | "/metrics" | "/openapi.json" => path.to_owned(),
            _ => "other".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RouteTemplates;

    #[test]
    fn routes_outside_the_document_are_matched_too() {
        let routes = RouteTemplates::default()
            .with_routes(&[("POST".into(), "/api/v1/statuses/{id}/favourite".into())]);
        assert!(
            routes
                .find("POST", "/api/v1/statuses/7/favourite")
                .is_some()
        );
        assert!(routes.find("GET", "/api/v1/statuses/7/favourite").is_none());
    }

    #[test]
    fn requests_are_matched_to_their_templates() {
        let spec = serde_json::json!({"paths": {
            "/v1/feed": {"get": {"operationId": "feed"}},
            "/v1/users/{username}/posts": {"get": {}},
            "/v1/users/{id}/follow": {"put": {}, "delete": {}},
        }})
        .to_string();
        let routes = RouteTemplates::from_spec(&spec);
        assert!(routes.find("GET", "/v1/feed").is_some());
        assert!(routes.find("GET", "/v1/users/alice/posts").is_some());
        for (method, path) in [
            ("POST", "/v1/feed"),
            ("GET", "/v1/users//posts"),
            ("GET", "/v1/users/alice"),
            ("GET", "/v1/feed/x"),
            ("GET", "/nope"),
        ] {
            assert!(routes.find(method, path).is_none(), "{method} {path}");
        }
        assert_eq!(
            routes.path_variable("PUT", "/v1/users/abc/follow", 0),
            Some("id".to_owned())
        );
        assert_eq!(routes.path_variable("PUT", "/v1/users/abc/follow", 1), None);
    }
}
