//! A small client of the public API, as a mobile app would use it.

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub const PASSWORD: &str = "benchmark passphrase";

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub write: String,
    pub read: String,
}

/// A logged-in account.
#[derive(Clone)]
pub struct Session {
    pub access: String,
}

impl Api {
    pub fn new(write: &str, read: &str) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("a client builds");
        Self {
            http,
            write: write.trim_end_matches('/').to_owned(),
            read: read.trim_end_matches('/').to_owned(),
        }
    }

    pub async fn register(&self, username: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/accounts", self.write))
            .json(&json!({"username": username, "email": format!("{username}@bench.example"), "password": PASSWORD}))
            .send()
            .await?;
        match response.status().as_u16() {
            201 | 409 => Ok(()),
            status => bail!(
                "registering {username}: {status} {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    pub async fn login(&self, username: &str) -> anyhow::Result<Session> {
        let response = self
            .http
            .post(format!("{}/v1/sessions", self.write))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("login {username}: {}", response.status());
        }
        let tokens: Value = response.json().await?;
        let access = tokens["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned();
        Ok(Session { access })
    }

    /// Registers (if needed) and logs in `username`.
    pub async fn account(&self, username: &str) -> anyhow::Result<Session> {
        self.register(username).await?;
        self.login(username).await
    }

    pub async fn feed_ok(&self, access: &str) -> bool {
        match self
            .http
            .get(format!("{}/v1/feed", self.read))
            .bearer_auth(access)
            .send()
            .await
        {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        }
    }
}
