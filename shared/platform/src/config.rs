//! Reading configuration from environment variables.
//!
//! Each service parses its whole configuration once at start-up into a
//! typed struct through these helpers; a missing or malformed value stops
//! start-up with an error that names the variable.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required")]
    Missing { name: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

fn raw(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A required variable.
pub fn required<T>(name: &'static str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    let value = raw(name).ok_or(ConfigError::Missing { name })?;
    parse(name, value)
}

/// An optional variable with a default.
pub fn or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match raw(name) {
        Some(value) => parse(name, value),
        None => Ok(default),
    }
}

/// An optional variable with no default.
pub fn optional<T>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw(name).map(|value| parse(name, value)).transpose()
}

/// A duration in milliseconds.
pub fn millis(name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
    or(name, default_ms).map(Duration::from_millis)
}

/// A duration in milliseconds that must lie in `range_ms`.
pub fn millis_in_range(
    name: &'static str,
    default_ms: u64,
    range_ms: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    in_range(name, default_ms, range_ms).map(Duration::from_millis)
}

/// A number that must lie in `range`.
pub fn in_range<T>(
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display + Copy,
    T::Err: Display,
{
    let value = or(name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: format!("must be between {} and {}", range.start(), range.end()),
        })
    }
}

/// Reads a PEM key given either inline (`inline_var`) or as a file path (`file_var`).
pub fn pem(inline_var: &'static str, file_var: &'static str) -> Result<Vec<u8>, ConfigError> {
    if let Some(pem) = raw(inline_var) {
        return Ok(pem.into_bytes());
    }
    let path: String = required(file_var)?;
    std::fs::read(&path).map_err(|e| ConfigError::Invalid {
        name: file_var,
        value: path,
        reason: e.to_string(),
    })
}

fn parse<T>(name: &'static str, value: String) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        })
}

/// `REDIS_URL` as the driver reads it: a cluster may be named as
/// `redis-cluster://[credentials@]host:port,host:port,…`, which becomes the
/// driver's `redis-cluster://[credentials@]host:port?node=host:port&…`.
pub fn redis_driver_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !scheme.ends_with("-cluster") {
        return url.to_owned();
    }
    let (credentials, rest) = match rest.rsplit_once('@') {
        Some((credentials, rest)) => (format!("{credentials}@"), rest),
        None => (String::new(), rest),
    };
    let (hosts, query) = match rest.split_once('?') {
        Some((hosts, query)) => (hosts, Some(query)),
        None => (rest, None),
    };
    let mut hosts = hosts
        .trim_end_matches('/')
        .split(',')
        .filter(|h| !h.is_empty());
    let first = hosts.next().unwrap_or_default();
    let params: Vec<String> = hosts
        .map(|h| format!("node={h}"))
        .chain(query.map(str::to_owned))
        .collect();
    if params.is_empty() {
        format!("{scheme}://{credentials}{first}")
    } else {
        format!("{scheme}://{credentials}{first}?{}", params.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::redis_driver_url;

    #[test]
    fn cluster_nodes_may_be_listed_with_commas() {
        assert_eq!(
            redis_driver_url("redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"),
            "redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001&node=127.0.0.1:7002"
        );
        assert_eq!(
            redis_driver_url("rediss-cluster://u:p@a:1,b:2?tls=x"),
            "rediss-cluster://u:p@a:1?node=b:2&tls=x"
        );
        for unchanged in [
            "redis://127.0.0.1:6379",
            "redis-cluster://a:1",
            "redis-cluster://a:1?node=b:2",
        ] {
            assert_eq!(redis_driver_url(unchanged), unchanged);
        }
    }
}
