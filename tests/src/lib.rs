//! Harness for end-to-end tests: starts write-api, relay, projector and
//! read-api as separate processes from the built binaries, each stack with
//! its own write and read databases, topic, consumer group and Redis key
//! prefix, so stacks run side by side. Processes are killed when the
//! [`Stack`] drops; their logs are kept under `target/e2e-logs/` and the
//! tail of each is printed when a test fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub mod front_door;

pub struct Service {
    pub name: &'static str,
    /// The binary it runs: `name` but for replicas such as `read-api-2`.
    binary: &'static str,
    /// The variable that sets its listen address.
    addr_var: &'static str,
    pub url: String,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: Child,
}

pub struct Stack {
    pub write_url: String,
    pub read_url: String,
    /// DSN of this stack's write database, for checks the API does not expose.
    pub write_db: String,
    /// DSN of this stack's read database (the durable read store).
    pub read_db: String,
    /// Prefix of this stack's Redis keys.
    pub redis_prefix: String,
    /// This stack's events topic (its dead letters go to `<topic>.dlq`).
    pub events_topic: String,
    pub services: Vec<Service>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where the binaries under test are (`E2E_BIN_DIR`, default `target/debug`).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("E2E_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"))
}

fn key_file(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} must name a key file (deploy/stack test sets it)"))
}

/// The servers a stack's processes use: by default those `deploy/stack
/// test` runs for every test; a test that kills them runs its own.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Admin DSN of the PostgreSQL server that holds the write database.
    pub write_pg: String,
    /// Admin DSN of the PostgreSQL server that holds the read database.
    pub read_pg: String,
    pub redis: String,
    pub kafka: String,
}

impl Backends {
    pub fn shared() -> Self {
        Self {
            write_pg: platform::testing::pg_admin_url(),
            read_pg: platform::testing::pg_admin_url(),
            redis: platform::testing::redis_url(),
            kafka: platform::testing::kafka_brokers(),
        }
    }
}

impl Stack {
    /// Starts the four services and waits until each reports ready.
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// Like [`Stack::start`], with extra environment for every service.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Stack {
        Self::start_on(&Backends::shared(), overrides).await
    }

    /// Like [`Stack::start_with`], on the given servers.
    pub async fn start_on(backends: &Backends, overrides: &[(&str, &str)]) -> Stack {
        let write_db = platform::testing::fresh_database_url_on(&backends.write_pg).await;
        let write_db_url = write_db.clone();
        let read_db = platform::testing::fresh_database_url_on(&backends.read_pg).await;
        let read_db_url = read_db.clone();
        let id = platform::testing::unique("e2e");
        let common: Vec<(&str, String)> = vec![
            ("DATABASE_URL", write_db),
            ("READ_DATABASE_URL", read_db),
            ("REDIS_URL", backends.redis.clone()),
            ("REDIS_KEY_PREFIX", format!("{id}:")),
            ("RECENT_WRITES_REDIS_URL", backends.redis.clone()),
            ("KAFKA_BROKERS", backends.kafka.clone()),
            ("KAFKA_EVENTS_TOPIC", format!("{id}.events")),
            ("KAFKA_EVENTS_PARTITIONS", "3".into()),
            ("PROJECTOR_GROUP", format!("{id}.projector")),
            ("JWT_PUBLIC_KEY_FILE", key_file("TEST_JWT_PUBLIC_KEY_FILE")),
            ("RUST_LOG", "info".into()),
            ("RELAY_POLL_INTERVAL_MS", "200".into()),
            ("DATABASE_MAX_CONNECTIONS", "4".into()),
            ("READ_DATABASE_MAX_CONNECTIONS", "4".into()),
            // Tests register many accounts from one address and write fast.
            ("REGISTRATIONS_PER_HOUR", "1000000".into()),
            ("APPS_PER_HOUR", "1000000".into()),
            ("POSTS_PER_MINUTE", "1000000".into()),
            ("FOLLOWS_PER_MINUTE", "1000000".into()),
            ("LIKES_PER_MINUTE", "1000000".into()),
            ("REPOSTS_PER_MINUTE", "1000000".into()),
        ];
        let log_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-logs");
        std::fs::create_dir_all(&log_dir).expect("the log folder can be created");

        let mut services = Vec::new();
        // Order matters: write-api migrates the write database, the projector
        // creates the topics and the read schema.
        for (name, addr_var, extra) in [
            (
                "write-api",
                "WRITE_API_ADDR",
                vec![(
                    "JWT_PRIVATE_KEY_FILE",
                    key_file("TEST_JWT_PRIVATE_KEY_FILE"),
                )],
            ),
            ("projector", "PROJECTOR_ADDR", vec![]),
            ("relay", "RELAY_ADDR", vec![]),
            ("read-api", "READ_API_ADDR", vec![]),
        ] {
            let addr = format!("127.0.0.1:{}", free_port());
            let log = log_dir.join(format!("{id}-{name}.log"));
            let env: Vec<(String, String)> = common
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .chain(extra.iter().map(|(k, v)| (*k, v.as_str())))
                .chain(overrides.iter().copied())
                .chain([(addr_var, addr.as_str())])
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let child = spawn(name, &env, &log);
            let mut service = Service {
                name,
                binary: name,
                addr_var,
                url: format!("http://{addr}"),
                log,
                env,
                child,
            };
            service.wait_ready().await;
            services.push(service);
        }
        Stack {
            events_topic: format!("{id}.events"),
            write_db: write_db_url,
            read_db: read_db_url,
            redis_prefix: format!("{id}:"),
            write_url: services[0].url.clone(),
            read_url: services[3].url.clone(),
            services,
        }
    }

    /// Starts a stack (with `overrides`) and registers and logs in one
    /// account per name.
    pub async fn with_accounts<const N: usize>(
        overrides: &[(&str, &str)],
        names: [&str; N],
    ) -> (Stack, reqwest::Client, [Account; N]) {
        let stack = Self::start_with(overrides).await;
        let http = reqwest::Client::new();
        let mut accounts = Vec::with_capacity(N);
        for name in names {
            accounts.push(stack.account(&http, name).await);
        }
        let accounts = accounts
            .try_into()
            .unwrap_or_else(|_| unreachable!("one account per name"));
        (stack, http, accounts)
    }

    pub fn service(&self, name: &str) -> &Service {
        self.services
            .iter()
            .find(|s| s.name == name)
            .expect("a service of the stack")
    }

    fn service_mut(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.name == name)
            .expect("a service of the stack")
    }

    /// Kills a service with SIGKILL: no shutdown hook runs.
    pub async fn kill(&mut self, name: &str) {
        let service = self.service_mut(name);
        service
            .child
            .kill()
            .await
            .expect("the service can be killed");
    }

    /// Asks a service to stop with SIGTERM, as an orchestrator does, and
    /// waits until it has.
    pub async fn terminate(&mut self, name: &str) {
        let service = self.service_mut(name);
        let pid = service.child.id().expect("the service is running");
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM reached {name}");
        service.child.wait().await.expect("the service exits");
    }

    /// Starts a killed service again, with the same environment, and waits
    /// until it is ready.
    pub async fn restart(&mut self, name: &str) {
        let service = self.service_mut(name);
        service.child = spawn(service.binary, &service.env, &service.log);
        service.wait_ready().await;
    }

    /// Starts another process of `of` named `name` (e.g. a second
    /// `read-api`), on its own port and otherwise with the same environment,
    /// and waits until it is ready.
    pub async fn add_replica(&mut self, of: &str, name: &'static str) -> &Service {
        let original = self.service(of);
        let (binary, addr_var) = (original.binary, original.addr_var);
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = original.env.clone();
        env.retain(|(k, _)| k != addr_var);
        env.push((addr_var.to_owned(), addr.clone()));
        let log = original.log.with_file_name(
            original
                .log
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
                .replace(binary, name),
        );
        let mut service = Service {
            name,
            binary,
            addr_var,
            url: format!("http://{addr}"),
            child: spawn(binary, &env, &log),
            log,
            env,
        };
        service.wait_ready().await;
        self.services.push(service);
        self.services.last().expect("just pushed")
    }

    /// Runs `binary args…` to completion with `service`'s environment and
    /// returns its exit status and output, e.g. `projector rebuild`.
    pub async fn run(&self, service: &str, args: &[&str]) -> std::process::Output {
        let service = self.service(service);
        Command::new(bin_dir().join(service.binary))
            .args(args)
            .envs(service.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", service.name))
    }
}

/// The `Consistency-Token` a write answered with.
pub fn consistency_token(response: &reqwest::Response) -> String {
    response.headers()["consistency-token"]
        .to_str()
        .expect("the token is ASCII")
        .to_owned()
}

/// Starts `name` from the binary folder, appending its output to `log`.
fn spawn(name: &str, env: &[(String, String)], log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the log file can be opened");
    Command::new(bin_dir().join(name))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name} from {:?}: {e}", bin_dir()))
}

impl Service {
    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
            }
            let ready = client
                .get(format!("{}/ready", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} is not ready after 60 s:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// The file its output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for service in &self.services {
                eprintln!(
                    "---- {} ({}) ----\n{}",
                    service.name,
                    service.log.display(),
                    service.log_tail()
                );
            }
        }
    }
}

/// Polls `check` every 50 ms until it yields a value, for at most
/// `within`; `what` names what is awaited when it never comes.
pub async fn until<T>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The answer to `request`.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.unwrap()
}

/// The JSON body of the answer to `request`.
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Sends commands to the write host as one signed-in user.
pub struct Acting<'a> {
    stack: &'a Stack,
    http: &'a reqwest::Client,
    token: &'a str,
}

impl Acting<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let url = self.stack.write(path);
        let mut request = self.http.request(method, url).bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, None).await
    }

    pub async fn put_with(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// `DELETE` with a JSON body (logout names its refresh token).
    pub async fn delete_with(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::DELETE, path, Some(body)).await
    }
}

/// Tokens of a logged-in test account.
pub struct Account {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

pub const PASSWORD: &str = "a long enough passphrase";

impl Stack {
    pub fn write(&self, path: &str) -> String {
        format!("{}{path}", self.write_url)
    }

    pub fn read(&self, path: &str) -> String {
        format!("{}{path}", self.read_url)
    }

    /// Commands to the write host as the holder of `token`.
    pub fn acting<'a>(&'a self, http: &'a reqwest::Client, token: &'a str) -> Acting<'a> {
        Acting {
            stack: self,
            http,
            token,
        }
    }

    /// Registers `username` (password [`PASSWORD`]) and logs in.
    pub async fn account(&self, http: &reqwest::Client, username: &str) -> Account {
        let response = http
            .post(self.write("/v1/accounts"))
            .json(&serde_json::json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "password": PASSWORD,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let body: serde_json::Value = response.json().await.unwrap();
        let id = body["id"].as_str().expect("ids are strings").to_owned();
        assert_eq!(body["username"], username);
        let tokens = self.login(http, username, PASSWORD).await;
        assert_eq!(tokens.status(), reqwest::StatusCode::OK);
        let tokens: serde_json::Value = tokens.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        Account {
            id,
            username: username.to_owned(),
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(
        &self,
        http: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        http.post(self.write("/v1/sessions"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Posts `text`; returns the post id and the write's consistency token.
    pub async fn post(&self, http: &reqwest::Client, token: &str, text: &str) -> (String, String) {
        let response = http
            .post(self.write("/v1/posts"))
            .bearer_auth(token)
            .json(&serde_json::json!({"text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let consistency = consistency_token(&response);
        let body: serde_json::Value = response.json().await.unwrap();
        (body["id"].as_str().unwrap().to_owned(), consistency)
    }

    /// Deletes post `id` (204 expected); returns the consistency token.
    pub async fn delete_post(&self, http: &reqwest::Client, token: &str, id: &str) -> String {
        let response = self
            .acting(http, token)
            .delete(&format!("/v1/posts/{id}"))
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
        consistency_token(&response)
    }

    /// An issuer of access tokens for any user, signed with the stack's
    /// key, so users loaded in bulk (who have no password) can act too.
    pub fn token_issuer() -> write_api::tokens::TokenIssuer {
        Self::token_issuer_for(Duration::from_secs(900))
    }

    /// [`Stack::token_issuer`] for tokens that live `ttl`.
    pub fn token_issuer_for(ttl: Duration) -> write_api::tokens::TokenIssuer {
        let pem = std::fs::read(key_file("TEST_JWT_PRIVATE_KEY_FILE")).unwrap();
        write_api::tokens::TokenIssuer::new(&pem, "microblog".into(), "microblog-api".into(), ttl)
            .unwrap()
    }

    /// Posts `{prefix} 0` to `{prefix} {count - 1}` in order; returns the
    /// last write's consistency token.
    pub async fn post_numbered(
        &self,
        http: &reqwest::Client,
        token: &str,
        prefix: &str,
        count: usize,
    ) -> String {
        let mut last = String::new();
        for n in 0..count {
            last = self.post(http, token, &format!("{prefix} {n}")).await.1;
        }
        last
    }

    /// Follows (`on`) or unfollows user `id`; returns the consistency token.
    pub async fn follow(&self, http: &reqwest::Client, token: &str, id: &str, on: bool) -> String {
        let url = self.write(&format!("/v1/users/{id}/follow"));
        let request = if on { http.put(url) } else { http.delete(url) };
        let response = request.bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
        consistency_token(&response)
    }

    /// GET `path` on the read host as the holder of `token`, once the write
    /// behind `consistency` is visible (only signed-in reads wait for
    /// consistency tokens); asserts a 200 in time.
    pub async fn read_as(
        &self,
        http: &reqwest::Client,
        path: &str,
        token: &str,
        consistency: &str,
    ) -> serde_json::Value {
        let response = http
            .get(self.read(path))
            .header("Consistency-Token", consistency)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let timed_out = response.headers().contains_key("consistency-token-timeout");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "{path}: {body}");
        assert!(!timed_out, "{path}: the write became visible in time");
        body
    }

    /// The texts of every page of the caller's home feed, `limit` items at
    /// a time, once the write behind `consistency` is visible.
    pub async fn whole_feed(
        &self,
        http: &reqwest::Client,
        token: &str,
        consistency: &str,
        limit: u32,
    ) -> Vec<String> {
        self.whole_feed_items(http, token, consistency, limit)
            .await
            .iter()
            .map(|item| item["post"]["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every item of `token`'s home feed, newest first, read page by page.
    pub async fn whole_feed_items(
        &self,
        http: &reqwest::Client,
        token: &str,
        consistency: &str,
        limit: u32,
    ) -> Vec<serde_json::Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}?limit={limit}", self.read("/v1/feed"));
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let response = http
                .get(url)
                .bearer_auth(token)
                .header("Consistency-Token", consistency)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let page: serde_json::Value = response.json().await.unwrap();
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    /// Polls `url` (authenticated as `token` if given) until `done` holds
    /// for its JSON body, for at most 20 s.
    pub async fn eventually(
        &self,
        http: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut request = http.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if status.is_success() && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{url} never reached the expected state: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
