//! Fault injection: a steady mixed load (posts, edits, deletes, likes,
//! reposts, follows, unfollows, feed reads on two read replicas) while a seeded schedule
//! kills and restarts each component in turn: the relay (SIGKILL), the
//! projector (SIGKILL), a read-api replica (SIGKILL), the broker (SIGKILL),
//! Redis (restarted empty) and the write PostgreSQL (immediate shutdown,
//! then start). Then an oracle compares every user's home feed (membership,
//! order-free, against what each follow and repost owes; texts after
//! edits; like and repost counts and the reader's own) and profile counts
//! with the write database: nothing lost, duplicated or
//! resurrected after delete.
//!
//! The broker, Redis and the write PostgreSQL are this test's own
//! processes, so killing them touches no other test; the read database
//! stays on the shared server, as the read cluster stays up when the write
//! database fails.
//!
//! `CHAOS_SEED` (default 1) picks the schedule; `CHAOS_ROUNDS` (default 1)
//! repeats it, each round killing every component in a seeded order.
//! `CHAOS_ROUNDS=20 deploy/stack test -E 'binary_id(e2e::chaos)'
//! --no-capture` is the long run README reports.
//! `CHAOS_ONLY=broker,relay` narrows the schedule to the components named,
//! to chase one failure; `CHAOS_KAFKA_DEBUG=broker,protocol,cgrp,eos` logs
//! librdkafka's debugging contexts in the relay's and projector's logs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Backends, PASSWORD, Stack};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const USERS: usize = 8;
/// Entries of a follow's backfill window the oracle does not count on:
/// posts created in the same instant as the follow, and reposts undone
/// since (the write database forgets them, but at the follow they took
/// their places in the followee's newest entries).
const BACKFILL_MARGIN: i64 = 40;
const COMPONENTS: [&str; 6] = [
    "relay",
    "projector",
    "read-api-2",
    "broker",
    "redis",
    "postgres",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

async fn wait_port(name: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !port_open(port).await {
        assert!(Instant::now() < deadline, "{name} did not open port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

/// A PostgreSQL server of this test's own, run as the `postgres` user.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    async fn start(dir: &Path) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (deploy/stack test installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .expect("a PostgreSQL version");
        std::fs::create_dir_all(dir).unwrap();
        run("chown", &["-R", "postgres:postgres", dir.to_str().unwrap()]).await;
        let pg = Postgres {
            bin,
            dir: dir.to_owned(),
            port: free_port(),
        };
        pg.ctl(
            &["initdb", "-D"],
            &["-o", "-U postgres --auth=trust -E UTF8"],
        )
        .await;
        pg.up().await;
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    async fn ctl(&self, before_data: &[&str], after_data: &[&str]) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut args = vec!["-u", "postgres", "--", pg_ctl.to_str().unwrap()];
        let data = self.data();
        args.extend(before_data);
        args.push(&data);
        args.extend(after_data);
        run("runuser", &args).await;
    }

    async fn up(&self) {
        let log = self.dir.join("postgres.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        self.ctl(
            &["start", "-w", "-t", "60", "-D"],
            &["-l", log.to_str().unwrap(), "-o", &options],
        )
        .await;
    }

    /// Stops at once, as a crash would: no checkpoint, clients cut off.
    async fn crash(&self) {
        self.ctl(&["stop", "-m", "immediate", "-D"], &[]).await;
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D", &self.data()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A server process of this test's own: killed with SIGKILL, started
/// again on the same port by the same command.
struct Server {
    name: &'static str,
    port: u16,
    command: Box<dyn Fn(u16) -> Command + Send + Sync>,
    child: Option<Child>,
}

impl Server {
    async fn start(
        name: &'static str,
        command: impl Fn(u16) -> Command + Send + Sync + 'static,
    ) -> Server {
        let mut server = Server {
            name,
            port: free_port(),
            command: Box::new(command),
            child: None,
        };
        server.up().await;
        server
    }

    async fn up(&mut self) {
        let child = (self.command)(self.port)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs (deploy/stack test installs it): {e}", self.name));
        self.child = Some(child);
        wait_port(self.name, self.port).await;
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

/// A single Redis without persistence: a restart loses everything.
async fn redis() -> Server {
    Server::start("redis-server", |port| {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null());
        command
    })
    .await
}

/// The Kafka-protocol broker (tansu, SQLite engine) keeping its data and
/// log in `dir`, with the header index `deploy/stack` adds (see
/// `index_broker_headers` there).
async fn broker(dir: &Path) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let db = dir.join("tansu.db");
    let dir = dir.to_owned();
    let server = Server::start("tansu", move |port| {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tansu.log"))
            .unwrap();
        let mut command = Command::new("tansu");
        command
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            // tansu reads a .env from its working directory.
            .current_dir(&dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        command
    })
    .await;
    run(
        "sqlite3",
        &[
            "-cmd",
            ".timeout 10000",
            db.to_str().unwrap(),
            "CREATE INDEX IF NOT EXISTS header_by_record ON header (topition, offset_id)",
        ],
    )
    .await;
    server
}

/// What each request ended as, by the phase it was sent in.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, BTreeMap<&'static str, u64>>>);

impl Tally {
    fn add(&self, phase: &str, kind: &'static str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(phase.to_owned())
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }

    /// Requests sent in phases starting with `phase_prefix` whose outcome
    /// `kind` satisfies `matches`.
    fn count(&self, phase_prefix: &str, matches: impl Fn(&str) -> bool) -> u64 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(phase, _)| phase.starts_with(phase_prefix))
            .flat_map(|(_, kinds)| kinds.iter())
            .filter(|(kind, _)| matches(kind))
            .map(|(_, n)| n)
            .sum()
    }
}

fn kind(result: &Result<reqwest::Response, reqwest::Error>, write: bool) -> &'static str {
    match result {
        Err(_) => "no answer",
        Ok(r) if r.status().is_success() => {
            if write {
                "write ok"
            } else {
                "read ok"
            }
        }
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
            if r.headers().contains_key("retry-after") {
                "503 with Retry-After"
            } else {
                "503 without Retry-After"
            }
        }
        Ok(r) if r.status() == StatusCode::UNAUTHORIZED => "401",
        Ok(r) if r.status().is_client_error() => "other 4xx",
        Ok(r) if r.status() == StatusCode::INTERNAL_SERVER_ERROR => "500",
        Ok(_) => "other 5xx",
    }
}

struct User {
    id: String,
    username: String,
    token: Mutex<String>,
    posts: Mutex<Vec<String>>,
}

struct Load {
    write_url: String,
    read_urls: Vec<String>,
    users: Vec<User>,
    phase: Mutex<String>,
    tally: Tally,
    stop: AtomicBool,
    http: Client,
}

impl Load {
    fn phase(&self) -> String {
        self.phase.lock().unwrap().clone()
    }

    fn set_phase(&self, phase: String) {
        *self.phase.lock().unwrap() = phase;
    }

    /// Logs in again when a token expired (the run may outlast one).
    async fn relogin(&self, user: &User) {
        let response = self
            .http
            .post(format!("{}/v1/sessions", self.write_url))
            .json(&json!({"username": user.username, "password": PASSWORD}))
            .send()
            .await;
        if let Ok(r) = response
            && r.status().is_success()
            && let Ok(body) = r.json::<Value>().await
            && let Some(token) = body["access_token"].as_str()
        {
            *user.token.lock().unwrap() = token.to_owned();
        }
    }

    async fn write_step(&self, rng: &mut StdRng) {
        let user = &self.users[rng.random_range(0..USERS)];
        let token = user.token.lock().unwrap().clone();
        let own = user.posts.lock().unwrap().clone();
        let other = &self.users[rng.random_range(0..USERS)];
        let roll = rng.random_range(0..100);
        let url = |path: &str| format!("{}{path}", self.write_url);
        let request = if roll < 40 || own.is_empty() {
            let text = format!("chaos {}", rng.random::<u32>());
            self.http
                .post(url("/v1/posts"))
                .json(&json!({ "text": text }))
        } else if roll < 55 {
            let id = &own[rng.random_range(0..own.len())];
            let text = format!("edited {}", rng.random::<u32>());
            self.http
                .patch(url(&format!("/v1/posts/{id}")))
                .json(&json!({ "text": text }))
        } else if roll < 65 {
            let id = own[rng.random_range(0..own.len())].clone();
            user.posts.lock().unwrap().retain(|p| *p != id);
            self.http.delete(url(&format!("/v1/posts/{id}")))
        } else if roll < 75 {
            // Likes, reposts and their undoing, of any post the load knows
            // of, its own and others' (deleted ones answer 404, reposts of
            // one's own 422).
            let theirs = other.posts.lock().unwrap().clone();
            let pool = if theirs.is_empty() { &own } else { &theirs };
            let id = &pool[rng.random_range(0..pool.len())];
            let what = if roll < 70 { "like" } else { "repost" };
            let path = url(&format!("/v1/posts/{id}/{what}"));
            if matches!(roll, 65..=67 | 70..=72) {
                self.http.put(path)
            } else {
                self.http.delete(path)
            }
        } else if roll < 90 && other.id != user.id {
            self.http
                .put(url(&format!("/v1/users/{}/follow", other.id)))
        } else {
            self.http
                .delete(url(&format!("/v1/users/{}/follow", other.id)))
        };
        let phase = self.phase();
        let result = request
            .bearer_auth(token)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let kind = kind(&result, true);
        self.tally.add(&format!("{phase} · writes"), kind);
        if kind == "401" {
            self.relogin(user).await;
        }
        if let Ok(r) = result
            && r.status() == StatusCode::CREATED
            && let Ok(body) = r.json::<Value>().await
            && let Some(id) = body["id"].as_str()
        {
            user.posts.lock().unwrap().push(id.to_owned());
        }
    }

    /// One feed page from a replica; when it does not answer, from the
    /// other, as the front door would.
    async fn read_step(&self, rng: &mut StdRng) {
        let user = &self.users[rng.random_range(0..USERS)];
        let token = user.token.lock().unwrap().clone();
        let first = rng.random_range(0..self.read_urls.len());
        let phase = self.phase();
        let mut result = None;
        for i in 0..self.read_urls.len() {
            let base = &self.read_urls[(first + i) % self.read_urls.len()];
            let r = self
                .http
                .get(format!("{base}/v1/feed?limit=20"))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let unanswered = r.is_err();
            result = Some(r);
            if !unanswered {
                break;
            }
        }
        let result = result.expect("at least one replica");
        let kind = kind(&result, false);
        self.tally.add(&format!("{phase} · reads"), kind);
        if kind == "401" {
            self.relogin(user).await;
        }
    }
}

/// What the read side shows that the write database contradicts.
#[derive(Debug, Default, PartialEq)]
struct Verdict {
    lost: usize,
    duplicated: usize,
    resurrected: usize,
    unfollowed_still_shown: usize,
    stale_texts: usize,
    wrong_counts: usize,
    wrong_likes: usize,
    wrong_viewer_likes: usize,
    wrong_reposts: usize,
    wrong_viewer_reposts: usize,
}

async fn oracle(stack: &Stack, load: &Load, db: &sqlx::PgPool) -> Verdict {
    let mut verdict = Verdict::default();
    let read_db = sqlx::PgPool::connect(&stack.read_db).await.unwrap();
    let texts: HashMap<i64, (String, bool)> = sqlx::query_as::<_, (i64, String, bool)>(
        "SELECT id, text, deleted_at IS NOT NULL FROM posts",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, text, deleted)| (id, (text, deleted)))
    .collect();
    let counts: HashMap<i64, (i64, i64)> =
        sqlx::query_as::<_, (i64, i64, i64)>("SELECT id, likes_count, reposts_count FROM posts")
            .fetch_all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, likes, reposts)| (id, (likes, reposts)))
            .collect();
    let pairs = async |sql: &'static str| -> HashSet<(i64, i64)> {
        sqlx::query_as::<_, (i64, i64)>(sql)
            .fetch_all(db)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let liked = pairs("SELECT user_id, post_id FROM likes").await;
    let reposted = pairs("SELECT user_id, post_id FROM reposts").await;
    let exact: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM posts p
         WHERE p.likes_count <> (SELECT count(*) FROM likes l WHERE l.post_id = p.id)
            OR p.reposts_count <> (SELECT count(*) FROM reposts r WHERE r.post_id = p.id)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        exact, 0,
        "the write database's like and repost counts are the sets' sizes"
    );
    for user in &load.users {
        let uid: i64 = user.id.parse().unwrap();
        // Reposts of deleted posts are deleted with them.
        let allowed: HashSet<i64> = sqlx::query_scalar(
            "SELECT p.id FROM posts p WHERE p.deleted_at IS NULL AND (p.author_id = $1
                 OR p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1))
             UNION
             SELECT r.post_id FROM reposts r WHERE r.user_id = $1
                 OR r.user_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)",
        )
        .bind(uid)
        .fetch_all(db)
        .await
        .unwrap()
        .into_iter()
        .collect();
        // A follow brings the followee's later posts and a backfill of the
        // newest FOLLOW_BACKFILL entries (posts and reposts) live at the
        // follow, as Mastodon's merge on follow does; older posts of an
        // author followed again after an unfollow are allowed but not owed
        // (see BACKFILL_MARGIN). A repost made
        // since the follow (or one's own) owes its post a place, through it
        // or another entry.
        let required: HashSet<i64> = sqlx::query_scalar(
            "SELECT p.id FROM posts p WHERE p.deleted_at IS NULL AND p.author_id = $1
             UNION
             SELECT r.post_id FROM reposts r WHERE r.user_id = $1
             UNION
             SELECT r.post_id FROM follows f JOIN reposts r ON r.user_id = f.followee_id
             WHERE f.follower_id = $1 AND r.created_at > f.created_at
             UNION
             SELECT p.id FROM follows f JOIN posts p ON p.author_id = f.followee_id
             WHERE f.follower_id = $1 AND p.deleted_at IS NULL AND (
                 p.created_at > f.created_at OR p.id IN (
                     SELECT q.id FROM (
                         SELECT q.id, q.created_at FROM posts q
                         WHERE q.author_id = f.followee_id AND q.created_at <= f.created_at
                           AND (q.deleted_at IS NULL OR q.deleted_at > f.created_at)
                         UNION ALL
                         SELECT r.id, r.created_at FROM reposts r
                         WHERE r.user_id = f.followee_id AND r.created_at <= f.created_at) AS q
                     ORDER BY q.created_at DESC, q.id DESC LIMIT $2))",
        )
        .bind(uid)
        .bind(projector::effects::FOLLOW_BACKFILL as i64 - BACKFILL_MARGIN)
        .fetch_all(db)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let token = user.token.lock().unwrap().clone();
        let mut shown = Vec::new();
        let mut shown_by = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = stack.read("/v1/feed?limit=100");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = e2e::json(load.http.get(url).bearer_auth(&token)).await;
            for item in page["items"].as_array().cloned().unwrap_or_default() {
                let id: i64 = item["post"]["id"].as_str().unwrap().parse().unwrap();
                let text = item["post"]["text"].as_str().unwrap_or_default().to_owned();
                let (likes, reposts) = counts.get(&id).copied().unzip();
                let wrong_likes = item["counts"]["likes"].as_i64() != likes;
                let wrong_reposts = item["counts"]["reposts"].as_i64() != reposts;
                if wrong_likes || wrong_reposts {
                    let stored: Option<(i64, i64, i64)> = sqlx::query_as(
                        "SELECT likes, reposts, version FROM post_counts WHERE post_id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&read_db)
                    .await
                    .unwrap();
                    let truth: Option<(i64, i64, i64)> = sqlx::query_as(
                        "SELECT likes_count, reposts_count, counts_version FROM posts WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(db)
                    .await
                    .unwrap();
                    eprintln!(
                        "oracle: user {uid} sees post {id} with counts {} (reposted by {}); \
                         the read database: {stored:?}; the write database: {truth:?}",
                        item["counts"], item["reposted_by"]["id"]
                    );
                }
                verdict.wrong_likes += usize::from(wrong_likes);
                verdict.wrong_reposts += usize::from(wrong_reposts);
                if item["viewer"]["liked"].as_bool() != Some(liked.contains(&(uid, id))) {
                    verdict.wrong_viewer_likes += 1;
                }
                if item["viewer"]["reposted"].as_bool() != Some(reposted.contains(&(uid, id))) {
                    verdict.wrong_viewer_reposts += 1;
                }
                shown.push((id, text));
                shown_by.push((id, item["reposted_by"]["id"].as_str().map(str::to_owned)));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let ids: HashSet<i64> = shown.iter().map(|(id, _)| *id).collect();
        if shown.len() != ids.len() {
            let mut seen = HashSet::new();
            let twice: Vec<i64> = shown
                .iter()
                .filter(|(id, _)| !seen.insert(*id))
                .map(|(id, _)| *id)
                .collect();
            let as_shown: Vec<&(i64, Option<String>)> = shown_by
                .iter()
                .filter(|(id, _)| twice.contains(id))
                .collect();
            eprintln!("oracle: user {uid} shown twice (post, reposter): {as_shown:?}");
            for &post in &twice {
                let offers: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT entry_id, entry_created_at_ms, entry_author_id FROM feed_offers
                     WHERE owner_id = $1 AND original_id = $2",
                )
                .bind(uid)
                .bind(post)
                .fetch_all(&read_db)
                .await
                .unwrap();
                let facts: Vec<(String,)> = sqlx::query_as(
                    "SELECT format('post by %s at %s', author_id, created_at) FROM posts WHERE id = $2
                     UNION ALL SELECT format('repost %s by %s at %s', id, user_id, created_at)
                         FROM reposts WHERE post_id = $2
                     UNION ALL SELECT format('follows %s since %s', followee_id, created_at)
                         FROM follows WHERE follower_id = $1",
                )
                .bind(uid)
                .bind(post)
                .fetch_all(db)
                .await
                .unwrap();
                eprintln!("oracle:   post {post}: offers {offers:?}; {facts:?}");
            }
        }
        verdict.duplicated += shown.len() - ids.len();
        let lost: Vec<i64> = required.difference(&ids).copied().collect();
        if !lost.is_empty() {
            let why: Vec<(i64, i64, Option<i64>, bool)> = sqlx::query_as(
                "SELECT p.id, p.author_id, r.user_id, p.deleted_at IS NOT NULL
                 FROM posts p LEFT JOIN reposts r ON r.post_id = p.id
                 WHERE p.id = ANY($1)",
            )
            .bind(&lost)
            .fetch_all(db)
            .await
            .unwrap();
            eprintln!("oracle: user {uid} lost (post, author, reposter, deleted): {why:?}");
        }
        verdict.lost += lost.len();
        for (id, text) in &shown {
            match texts.get(id) {
                Some((_, true)) => verdict.resurrected += 1,
                Some((_, false)) if !allowed.contains(id) => verdict.unfollowed_still_shown += 1,
                Some((current, false)) if current != text => verdict.stale_texts += 1,
                _ => {}
            }
        }
        let profile = e2e::json(
            load.http
                .get(stack.read(&format!("/v1/users/{}", user.username))),
        )
        .await;
        let counts: (i64, i64, i64) = sqlx::query_as(
            "SELECT followers_count, following_count, posts_count FROM users WHERE id = $1",
        )
        .bind(uid)
        .fetch_one(db)
        .await
        .unwrap();
        let served = (
            profile["followers_count"].as_i64().unwrap_or(-1),
            profile["following_count"].as_i64().unwrap_or(-1),
            profile["posts_count"].as_i64().unwrap_or(-1),
        );
        if served != counts {
            verdict.wrong_counts += 1;
        }
    }
    verdict
}

/// The time until a post by the canary shows in the canary's own feed:
/// the whole path (write database, relay, broker, projector, Redis, read
/// replica) works again.
async fn end_to_end(stack: &Stack, brokers: &str, load: &Load, canary: &User) -> Duration {
    let http = &load.http;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let text = format!("canary {}", uuid_like());
    let mut posted = false;
    while Instant::now() < deadline {
        let token = canary.token.lock().unwrap().clone();
        if !posted {
            let response = http
                .post(stack.write("/v1/posts"))
                .bearer_auth(&token)
                .json(&json!({ "text": text }))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match response.map(|r| r.status()) {
                Ok(StatusCode::CREATED) => posted = true,
                // Access tokens last 15 minutes; long runs outlive them.
                Ok(StatusCode::UNAUTHORIZED) => load.relogin(canary).await,
                _ => {}
            }
        }
        if posted {
            let feed = http
                .get(stack.read("/v1/feed?limit=5"))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if feed
                .as_ref()
                .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
            {
                load.relogin(canary).await;
            } else if let Ok(r) = feed
                && let Ok(page) = r.json::<Value>().await
                && page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["post"]["text"] == text))
            {
                return started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut state = pipeline_state(stack, http).await;
    state.push_str(&probe_broker(brokers, &stack.events_topic).await);
    panic!("the system did not recover within 300 s (posted: {posted}):\n{state}");
}

/// The relay's and projector's metrics that say where events are (backlog,
/// leadership, partitions, lag, dead letters), and their log tails.
async fn pipeline_state(stack: &Stack, http: &Client) -> String {
    let mut state = String::new();
    for service in ["relay", "projector"] {
        let metrics = http
            .get(format!("{}/metrics", stack.service(service).url))
            .send()
            .await;
        let text = match metrics {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("no answer: {e}"),
        };
        let interesting = [
            "relay_leader",
            "outbox_backlog",
            "assigned_partitions",
            "lag",
            "dead_letter",
        ];
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if interesting.iter().any(|w| line.contains(w)) {
                state.push_str(&format!("  {service}: {line}\n"));
            }
        }
        state.push_str(&format!(
            "  {service} log:\n{}\n",
            stack.service(service).log_tail()
        ));
    }
    state
}

/// What fresh clients get from the broker: tells a broker that stopped
/// serving from clients that stopped asking.
async fn probe_broker(brokers: &str, topic: &str) -> String {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let config = broker_config(brokers);
    let mut report = String::from("  fresh clients against the broker:\n");
    let consumer: BaseConsumer = config
        .consumer(&format!("probe-{}", uuid_like()))
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map(|m| {
            m.topics()
                .iter()
                .map(|t| {
                    format!(
                        "{}: {} partitions, error {:?}",
                        t.name(),
                        t.partitions().len(),
                        t.error()
                    )
                })
                .collect::<Vec<_>>()
        });
    report.push_str(&format!("    metadata: {metadata:?}\n"));
    let producer: FutureProducer = config.producer().create().unwrap();
    let dead_letters = format!("{topic}.dlq");
    let sent = producer
        .send(
            FutureRecord::<str, str>::to(&dead_letters).payload("probe"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e);
    report.push_str(&format!(
        "    idempotent produce to {dead_letters}: {sent:?}\n"
    ));
    consumer.subscribe(&[topic]).unwrap();
    let joining = Instant::now();
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0
        && joining.elapsed() < Duration::from_secs(20)
    {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    report.push_str(&format!(
        "    new group member's assignment after {:.1} s: {:?}\n",
        joining.elapsed().as_secs_f64(),
        consumer.assignment().map(|a| a.count())
    ));
    report
}

fn broker_config(brokers: &str) -> broker::KafkaConfig {
    broker::KafkaConfig {
        brokers: brokers.to_owned(),
        events_topic: String::new(),
        partitions: 1,
        replication: 1,
        client_debug: None,
    }
}

fn uuid_like() -> String {
    format!("{:x}", rand::random::<u64>())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_system_survives_every_component_failing_in_turn() {
    let seed = env_number("CHAOS_SEED", 1);
    let rounds = env_number("CHAOS_ROUNDS", 1);
    let mut components = COMPONENTS.to_vec();
    if let Ok(only) = std::env::var("CHAOS_ONLY") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        for name in &only {
            assert!(
                COMPONENTS.contains(name),
                "CHAOS_ONLY names {name}, not one of {COMPONENTS:?}"
            );
        }
        components.retain(|c| only.contains(c));
        eprintln!("chaos: CHAOS_ONLY narrows the schedule to {components:?}");
    }
    // Kept when the test fails: the broker's and PostgreSQL's logs are there.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/e2e-logs")
        .join(platform::testing::unique("chaos"));
    eprintln!("chaos: servers' data and logs in {}", root.display());
    let postgres = Postgres::start(&root.join("postgres")).await;
    let mut redis = redis().await;
    let mut broker = broker(&root.join("broker")).await;
    let backends = Backends {
        write_pg: postgres.admin_url(),
        read_pg: platform::testing::pg_admin_url(),
        redis: format!("redis://127.0.0.1:{}", redis.port),
        kafka: format!("127.0.0.1:{}", broker.port),
    };
    // Static membership, as deployed: a restarted projector takes its
    // partitions back at once instead of waiting out a rebalance.
    let mut overrides = vec![("PROJECTOR_INSTANCE_ID", "projector-0".to_owned())];
    if let Ok(contexts) = std::env::var("CHAOS_KAFKA_DEBUG") {
        overrides.push(("KAFKA_CLIENT_DEBUG", contexts));
        overrides.push(("RUST_LOG", "info,librdkafka=debug".to_owned()));
    }
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut stack = Stack::start_on(&backends, &overrides).await;
    stack.add_replica("read-api", "read-api-2").await;
    let http = Client::new();
    let mut users = Vec::new();
    for n in 0..USERS {
        let account = stack.account(&http, &format!("chaos{n}")).await;
        users.push(User {
            id: account.id,
            username: account.username,
            token: Mutex::new(account.access),
            posts: Mutex::new(Vec::new()),
        });
    }
    let canary = stack.account(&http, "canary").await;
    let canary = User {
        id: canary.id,
        username: canary.username,
        token: Mutex::new(canary.access),
        posts: Mutex::new(Vec::new()),
    };
    let load = Arc::new(Load {
        write_url: stack.write_url.clone(),
        read_urls: vec![
            stack.read_url.clone(),
            stack.service("read-api-2").url.clone(),
        ],
        users,
        phase: Mutex::new("steady".into()),
        tally: Tally::default(),
        stop: AtomicBool::new(false),
        http: http.clone(),
    });
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let load = Arc::clone(&load);
        workers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed * 100 + worker);
            while !load.stop.load(Ordering::Relaxed) {
                if worker < 2 {
                    load.write_step(&mut rng).await;
                } else {
                    load.read_step(&mut rng).await;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
            }
        }));
    }

    let mut schedule = StdRng::seed_from_u64(seed);
    let mut recovery: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let started = Instant::now();
    for round in 0..rounds {
        let mut order = components.clone();
        order.shuffle(&mut schedule);
        for component in order {
            tokio::time::sleep(Duration::from_millis(schedule.random_range(1_000..3_000))).await;
            load.set_phase(format!("{component} down"));
            eprintln!(
                "chaos: {:>6.1} s: {component} down",
                started.elapsed().as_secs_f64()
            );
            match component {
                "broker" => broker.kill().await,
                "redis" => redis.kill().await,
                "postgres" => postgres.crash().await,
                service => stack.kill(service).await,
            }
            tokio::time::sleep(Duration::from_millis(schedule.random_range(2_000..5_000))).await;
            load.set_phase(format!("{component} recovering"));
            eprintln!(
                "chaos: {:>6.1} s: {component} restarting",
                started.elapsed().as_secs_f64()
            );
            let restarting = Instant::now();
            match component {
                "broker" => broker.up().await,
                "redis" => redis.up().await,
                "postgres" => postgres.up().await,
                service => stack.restart(service).await,
            }
            let until_served = end_to_end(&stack, &backends.kafka, &load, &canary).await;
            recovery
                .entry(component)
                .or_default()
                .push(restarting.elapsed().max(until_served));
            load.set_phase("steady".into());
        }
        eprintln!(
            "chaos: round {} of {rounds} done after {:.0} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let db = sqlx::PgPool::connect(&stack.write_db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let converging = Instant::now();
    let verdict = loop {
        let verdict = oracle(&stack, &load, &db).await;
        if verdict == Verdict::default() || Instant::now() > deadline {
            break verdict;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    eprintln!(
        "chaos: seed {seed}, {rounds} round(s), {} kills in {:.0} s; converged {:.1} s after the load stopped",
        rounds as usize * components.len(),
        started.elapsed().as_secs_f64(),
        converging.elapsed().as_secs_f64()
    );
    eprintln!("requests by phase and outcome:");
    for (phase, kinds) in load.tally.0.lock().unwrap().iter() {
        eprintln!("  {phase:<24} {kinds:?}");
    }
    eprintln!("recovery (restart until a new post shows in its author's feed):");
    for (component, times) in &recovery {
        let max = times.iter().max().copied().unwrap_or_default();
        let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
        eprintln!(
            "  {component:<12} mean {:.1} s, max {:.1} s over {} restart(s)",
            mean.as_secs_f64(),
            max.as_secs_f64(),
            times.len()
        );
    }
    eprintln!("oracle: {verdict:?}");
    if verdict != Verdict::default() {
        eprintln!(
            "the pipeline after the wait:\n{}",
            pipeline_state(&stack, &http).await
        );
    }

    assert_eq!(
        verdict,
        Verdict::default(),
        "the read side agrees with the write database"
    );
    let tally = &load.tally;
    for (outcome, rule) in [
        ("500", "no request is answered 500"),
        ("other 5xx", "no other server error"),
        ("503 without Retry-After", "every 503 says when to retry"),
    ] {
        assert_eq!(tally.count("", |k| k == outcome), 0, "{rule}");
    }
    if components.contains(&"postgres") {
        assert_eq!(
            tally.count("postgres down · writes", |k| k == "no answer"),
            0,
            "the write host answers while its database is down"
        );
        assert!(
            tally.count("postgres down · reads", |k| k == "read ok") > 0,
            "feeds were read while the write database was down"
        );
        assert_eq!(
            tally.count("postgres down · reads", |k| k != "read ok"),
            0,
            "readers keep reading while the write database is down"
        );
    }
    drop(stack);
    drop(postgres);
    drop(broker);
    let _ = std::fs::remove_dir_all(&root);
}
