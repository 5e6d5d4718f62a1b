//! A host's Mastodon routes as one table: the router and the route
//! templates (for the HTTP metrics' `route` label) come from the same
//! entries, so they cannot drift apart.

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Route, RouteMethod};

/// Routes being collected.
#[derive(Default)]
pub struct Table {
    paths: Vec<(&'static str, RouteMethod)>,
    templates: Vec<(String, String)>,
}

/// A poem path (`/a/:id`) as an OpenAPI-style template (`/a/{id}`).
fn template(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix(':').or_else(|| s.strip_prefix('*')) {
                Some(name) => format!("{{{name}}}"),
                None => s.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `method` on `path` with `endpoint`.
    pub fn at<E>(mut self, method: Method, path: &'static str, endpoint: E) -> Self
    where
        E: Endpoint + 'static,
        E::Output: IntoResponse,
    {
        self.templates
            .push((method.as_str().to_owned(), template(path)));
        let index = match self.paths.iter().position(|(p, _)| *p == path) {
            Some(index) => index,
            None => {
                self.paths.push((path, RouteMethod::new()));
                self.paths.len() - 1
            }
        };
        let methods = std::mem::take(&mut self.paths[index].1);
        self.paths[index].1 = methods.method(method, endpoint);
        self
    }

    /// The router, and every (method, template) it serves.
    pub fn build(self) -> (Route, Vec<(String, String)>) {
        let route = self
            .paths
            .into_iter()
            .fold(Route::new(), |route, (path, methods)| {
                route.at(path, methods)
            });
        (route, self.templates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_their_variables_as_openapi_does() {
        assert_eq!(
            template("/api/v1/statuses/:id/favourite"),
            "/api/v1/statuses/{id}/favourite"
        );
        assert_eq!(
            template("/api/v1/streaming/*path"),
            "/api/v1/streaming/{path}"
        );
        assert_eq!(template("/api/v1/instance"), "/api/v1/instance");
    }
}
