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
        let mut builder = reqwest::Client::builder().pool_max_idle_per_host(256);
        // Names under `.localhost` are loopback (RFC 6761), as browsers and
        // curl treat them, so the front door's host names work here too.
        for url in [write, read]
            .iter()
            .filter_map(|u| reqwest::Url::parse(u).ok())
        {
            if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
                && host.ends_with(".localhost")
            {
                builder = builder.resolve(host, ([127, 0, 0, 1], port).into());
            }
        }
        let http = builder.build().expect("a client builds");
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

    /// The caller's profile on the read host, if it is there yet.
    async fn me_profile(&self, access: &str) -> anyhow::Result<Option<Value>> {
        let response = self
            .http
            .get(format!("{}/v1/users/me", self.read))
            .bearer_auth(access)
            .send()
            .await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(Some(response.json().await?))
    }

    /// The caller's user id, from the read host (waiting up to 10 s for a
    /// new account to be projected there).
    pub async fn me(&self, access: &str) -> anyhow::Result<String> {
        for _ in 0..100 {
            if let Some(me) = self.me_profile(access).await? {
                return Ok(me["id"].as_str().context("no id")?.to_owned());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        bail!("the account never appeared on the read host")
    }

    pub async fn follow(&self, access: &str, user_id: &str) -> anyhow::Result<()> {
        self.http
            .put(format!("{}/v1/users/{user_id}/follow", self.write))
            .bearer_auth(access)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn post(&self, access: &str, text: &str) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/v1/posts", self.write))
            .bearer_auth(access)
            .json(&json!({ "text": text }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// One page of the caller's home feed, as JSON.
    pub async fn feed_page(
        &self,
        access: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut url = format!("{}/v1/feed?limit={limit}", self.read);
        if let Some(cursor) = cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response = self.http.get(url).bearer_auth(access).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// Waits up to 30 s until the read host shows the caller following
    /// `count` accounts.
    pub async fn wait_following(&self, access: &str, count: usize) -> anyhow::Result<()> {
        for _ in 0..300 {
            let me = self.me_profile(access).await?;
            if me.is_some_and(|me| me["following_count"].as_u64() == Some(count as u64)) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        bail!("the follows never all reached the read host")
    }

    /// Items on the first page of the caller's home feed.
    pub async fn feed_len(&self, access: &str) -> anyhow::Result<usize> {
        let page: Value = self
            .http
            .get(format!("{}/v1/feed", self.read))
            .bearer_auth(access)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(page["items"].as_array().map_or(0, Vec::len))
    }
}
