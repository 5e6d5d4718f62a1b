//! Request parameters as Mastodon accepts them: in the query string and in
//! a JSON, form (`application/x-www-form-urlencoded`) or multipart body
//! alike. Clients differ (Mastodon.py sends forms, masto.js JSON, others
//! multipart), so every route reads one flat list of `(name, value)`
//! pairs: arrays as `name[]`, nested objects as `name[key]`, as a form
//! would spell them.

use poem::http::header;
use poem::{FromRequest, Request, RequestBody};

use crate::errors::MastodonError;

/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 256;

/// Every parameter of a request, query string first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The last value of `name` (a body's value overrides the query's).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name`, trimmed, `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name[]` (and of `name`, as some clients send
    /// arrays without brackets); a comma list counts as several.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let bracketed = format!("{name}[]");
        self.0
            .iter()
            .filter(|(k, _)| *k == bracketed || k == name)
            .flat_map(|(_, v)| v.split([',', ' ', '\n']))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A boolean as Mastodon reads one: `true`, `1`, `on` and their
    /// opposites; anything else is a 422 naming the parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, MastodonError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "true" | "1" | "on" | "yes" | "t" => Ok(Some(true)),
                "false" | "0" | "off" | "no" | "f" | "" => Ok(Some(false)),
                _ => Err(MastodonError::unprocessable(format!(
                    "{name} must be true or false"
                ))),
            },
        }
    }

    /// A positive integer no larger than `max` (larger is capped, as
    /// Mastodon caps `limit`), or `default` when absent.
    pub fn limit(&self, name: &str, default: usize, max: usize) -> Result<usize, MastodonError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .map(|n| n.min(max))
                .ok_or_else(|| {
                    MastodonError::unprocessable(format!("{name} must be a positive integer"))
                }),
        }
    }

    /// Parameters of `query` and `body` as the request's content type says.
    pub fn parse(
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, MastodonError> {
        let mut pairs = decode_form(query)?;
        let kind = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !body.is_empty() {
            match kind.as_str() {
                "application/json" => flatten_json(body, &mut pairs)?,
                "multipart/form-data" => {
                    return Err(MastodonError::unprocessable(
                        "multipart bodies are read by the request extractor",
                    ));
                }
                // Forms, and bodies sent without a type, as most clients send forms.
                _ => pairs.extend(decode_form(&String::from_utf8_lossy(body))?),
            }
        }
        if pairs.len() > MAX_PARAMS {
            return Err(MastodonError::unprocessable(format!(
                "too many parameters (at most {MAX_PARAMS})"
            )));
        }
        Ok(Self(pairs))
    }
}

/// An id in a path: a positive integer, else 404 as Mastodon answers.
pub fn path_id(raw: &str) -> Result<i64, MastodonError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(MastodonError::not_found)
}

fn decode_form(text: &str) -> Result<Vec<(String, String)>, MastodonError> {
    serde_urlencoded::from_str(text)
        .map_err(|e| MastodonError::bad_request(format!("the parameters cannot be read: {e}")))
}

fn flatten_json(body: &[u8], pairs: &mut Vec<(String, String)>) -> Result<(), MastodonError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| MastodonError::bad_request(format!("the JSON body cannot be read: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(MastodonError::unprocessable(
            "the JSON body must be an object",
        ));
    };
    for (name, value) in fields {
        flatten_value(name, value, pairs);
    }
    Ok(())
}

fn flatten_value(name: String, value: serde_json::Value, pairs: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Null => {}
        Value::String(s) => pairs.push((name, s)),
        Value::Bool(b) => pairs.push((name, b.to_string())),
        Value::Number(n) => pairs.push((name, n.to_string())),
        Value::Array(items) => {
            for item in items {
                flatten_value(format!("{name}[]"), item, pairs);
            }
        }
        Value::Object(fields) => {
            for (key, value) in fields {
                flatten_value(format!("{name}[{key}]"), value, pairs);
            }
        }
    }
}

impl<'a> FromRequest<'a> for Params {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let query = req.uri().query().unwrap_or_default();
        let content_type = req.header(header::CONTENT_TYPE).map(str::to_owned);
        let is_multipart = content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
        if is_multipart {
            let mut pairs = decode_form(query)?;
            let mut form = poem::web::Multipart::from_request(req, body).await?;
            while let Some(field) = form.next_field().await? {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                if field.file_name().is_some() {
                    return Err(MastodonError::unprocessable(format!(
                        "{name}: file uploads are not supported"
                    ))
                    .into());
                }
                let value = field.text().await.map_err(|e| {
                    MastodonError::bad_request(format!("{name} cannot be read: {e}"))
                })?;
                pairs.push((name, value));
                if pairs.len() > MAX_PARAMS {
                    return Err(MastodonError::unprocessable(format!(
                        "too many parameters (at most {MAX_PARAMS})"
                    ))
                    .into());
                }
            }
            return Ok(Self(pairs));
        }
        let bytes = body.take()?.into_bytes().await?;
        Ok(Self::parse(query, content_type.as_deref(), &bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_json_and_query_read_alike() {
        let form = Params::parse(
            "limit=5",
            Some("application/x-www-form-urlencoded"),
            b"status=hi&scopes[]=read&scopes[]=write",
        )
        .unwrap();
        let json = Params::parse(
            "limit=5",
            Some("application/json; charset=utf-8"),
            br#"{"status":"hi","scopes":["read","write"],"home":{"last_read_id":"7"},"x":null}"#,
        )
        .unwrap();
        for p in [&form, &json] {
            assert_eq!(p.get("status"), Some("hi"));
            assert_eq!(p.all("scopes"), ["read", "write"]);
            assert_eq!(p.limit("limit", 20, 40).unwrap(), 5);
        }
        assert_eq!(json.get("home[last_read_id]"), Some("7"));
        assert_eq!(json.get("x"), None);
    }

    #[test]
    fn scopes_in_one_string_split() {
        let p = Params::parse("scopes=read+write%20follow", None, b"").unwrap();
        assert_eq!(p.all("scopes"), ["read", "write", "follow"]);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let p = Params::parse("limit=x&sensitive=maybe", None, b"").unwrap();
        assert!(
            p.limit("limit", 20, 40)
                .unwrap_err()
                .message()
                .contains("limit")
        );
        assert!(
            p.flag("sensitive")
                .unwrap_err()
                .message()
                .contains("sensitive")
        );
        assert_eq!(p.limit("other", 20, 40).unwrap(), 20);
        assert_eq!(
            Params::parse("limit=500", None, b"")
                .unwrap()
                .limit("limit", 20, 40)
                .unwrap(),
            40
        );
        assert!(Params::parse("", Some("application/json"), b"[1]").is_err());
        assert!(Params::parse("", Some("application/json"), b"{").is_err());
    }
}
