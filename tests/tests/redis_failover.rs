//! A Redis Cluster master killed while posts fan out to 2,000 followers whose
//! hot feeds are warm: once its replica is promoted and the projector has
//! caught up, every follower's feed holds every post exactly once. The
//! cluster is the test's own (six `redis-server` processes), so killing a
//! master touches no other test.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use contracts::ids::UserId;
use e2e::Stack;
use futures::{StreamExt, stream};
use tokio::process::{Child, Command};

const FOLLOWERS: i64 = 2_000;
const POSTS: usize = 3;

/// `n` distinct free loopback ports (all held until all are chosen).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

async fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .await
        .expect("redis-cli runs (deploy/stack test installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Six nodes, three masters with a replica each, killed when dropped.
struct Cluster {
    nodes: Vec<(u16, Child)>,
}

impl Cluster {
    async fn start(dir: &Path) -> Cluster {
        let mut nodes = Vec::new();
        let ports = free_ports(12);
        for pair in ports.chunks(2) {
            let (port, bus) = (pair[0], pair[1]);
            let data = dir.join(port.to_string());
            std::fs::create_dir_all(&data).unwrap();
            let log = std::fs::File::create(data.join("redis.log")).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args([
                    "--cluster-node-timeout",
                    "1000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&data)
                .stdout(Stdio::from(log))
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server runs (deploy/stack test installs it)");
            nodes.push((port, child));
        }
        for (port, _) in &nodes {
            let port = *port;
            e2e::until("a Redis node", Duration::from_secs(10), async || {
                redis_cli(port, &["ping"])
                    .await
                    .contains("PONG")
                    .then_some(())
            })
            .await;
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let cluster = Cluster { nodes };
        cluster.wait_ok(None).await;
        cluster
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis-cluster://{}", nodes.join(","))
    }

    /// Waits until every node but `except` says the cluster is ok and has
    /// three masters.
    async fn wait_ok(&self, except: Option<u16>) {
        for (port, _) in self.nodes.iter().filter(|(p, _)| Some(*p) != except) {
            let port = *port;
            e2e::until("cluster_state:ok", Duration::from_secs(30), async || {
                let info = redis_cli(port, &["cluster", "info"]).await;
                (info.contains("cluster_state:ok") && info.contains("cluster_size:3")).then_some(())
            })
            .await;
        }
    }

    /// Waits until the surviving nodes have marked `killed` as failed and
    /// promoted its replica.
    async fn wait_failed_over(&self, killed: u16) {
        let survivor = self.nodes.iter().find(|(p, _)| *p != killed).unwrap().0;
        let dead = format!("127.0.0.1:{killed}@");
        e2e::until(
            "the replica's promotion",
            Duration::from_secs(30),
            async || {
                let nodes = redis_cli(survivor, &["cluster", "nodes"]).await;
                let failed = nodes.lines().any(|l| {
                    l.contains(&dead) && l.contains("master,fail")
                        || l.contains(&dead) && l.contains(" fail ")
                });
                let masters = nodes
                    .lines()
                    .filter(|l| l.contains("master") && !l.contains("fail"))
                    .count();
                (failed && masters == 3).then_some(())
            },
        )
        .await;
        self.wait_ok(Some(killed)).await;
    }

    /// Kills a master with SIGKILL; returns its port.
    async fn kill_a_master(&mut self) -> u16 {
        for (port, child) in &mut self.nodes {
            if redis_cli(*port, &["role"]).await.starts_with("master") {
                child.kill().await.unwrap();
                return *port;
            }
        }
        panic!("the cluster has no master");
    }
}

/// The texts of `user`'s whole feed, read through the read API.
async fn feed(stack: &Stack, http: &reqwest::Client, token: &str, after: &str) -> Vec<String> {
    stack.whole_feed(http, token, after, 20).await
}

/// Waits (up to 10 s) until `post` is in some followers' durable feeds but
/// not yet all: its fan-out is under way. Returns how many it reached.
async fn fan_out_under_way(read: &sqlx::PgPool, post: i64) -> i64 {
    e2e::until(
        "the fan-out under way",
        Duration::from_secs(10),
        async || {
            let (reached,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM home_feed WHERE post_id = $1")
                    .bind(post)
                    .fetch_one(read)
                    .await
                    .unwrap();
            (reached > 1 && reached < FOLLOWERS).then_some(reached)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_killed_mid_fan_out_loses_no_entry() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/e2e-logs")
        .join(platform::testing::unique("redis-failover"));
    let mut cluster = Cluster::start(&dir).await;
    let url = cluster.url();
    let (stack, http, [author]) = Stack::with_accounts(
        &[
            ("REDIS_URL", url.as_str()),
            ("FANOUT_PAGE_SIZE", "20"),
            ("READ_YOUR_WRITES_TIMEOUT_MS", "30000"),
        ],
        ["author"],
    )
    .await;

    // 2,000 followers, straight into both databases: the write database
    // (the source of truth) and the read model's follower list.
    let write = sqlx::PgPool::connect(&stack.write_db).await.unwrap();
    let read = sqlx::PgPool::connect(&stack.read_db).await.unwrap();
    let followers: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO users (username, email, password_hash)
         SELECT 'fan_' || g, 'fan_' || g || '@example.com', 'x' FROM generate_series(1, $1) g
         RETURNING id",
    )
    .bind(FOLLOWERS)
    .fetch_all(&write)
    .await
    .unwrap();
    let followers: Vec<i64> = followers.into_iter().map(|(id,)| id).collect();
    let author_id: i64 = author.id.parse().unwrap();
    for (db, sql) in [
        (
            &write,
            "INSERT INTO follows (follower_id, followee_id) SELECT id, $2 FROM unnest($1::bigint[]) AS id",
        ),
        (
            &read,
            "INSERT INTO followers (follower_id, followee_id) SELECT id, $2 FROM unnest($1::bigint[]) AS id",
        ),
    ] {
        sqlx::query(sql)
            .bind(&followers)
            .bind(author_id)
            .execute(db)
            .await
            .unwrap();
    }
    let issuer = Stack::token_issuer();
    let tokens: Vec<String> = followers
        .iter()
        .map(|&id| issuer.access_token(UserId(id), uuid::Uuid::new_v4()))
        .collect();
    // Every hot feed warm (and empty), so reads trust Redis afterwards.
    let nothing = "v1.00000000000000000000000000000000";
    let warmed: Vec<Vec<String>> = stream::iter(&tokens)
        .map(|token| feed(&stack, &http, token, nothing))
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(warmed.iter().all(Vec::is_empty));

    // Posts fan out in pages of 20 while a master dies.
    let mut last = String::new();
    for n in 0..POSTS {
        let (post, token) = stack
            .post(&http, &author.access, &format!("post {n}"))
            .await;
        last = token;
        if n == 0 {
            let reached = fan_out_under_way(&read, post.parse().unwrap()).await;
            let started = Instant::now();
            let killed = cluster.kill_a_master().await;
            cluster.wait_failed_over(killed).await;
            eprintln!(
                "master on port {killed} killed with the first post in {reached} of \
                 {FOLLOWERS} feeds; cluster ok again after {:?}",
                started.elapsed()
            );
        }
    }

    let expected: Vec<String> = (0..POSTS).rev().map(|n| format!("post {n}")).collect();
    let (stack, http, last) = (&stack, &http, &last);
    let feeds: Vec<(i64, Vec<String>)> = stream::iter(followers.iter().zip(&tokens))
        .map(|(&id, token)| async move { (id, feed(stack, http, token, last).await) })
        .buffer_unordered(16)
        .collect()
        .await;
    let wrong: Vec<_> = feeds.into_iter().filter(|(_, f)| *f != expected).collect();
    assert!(
        wrong.is_empty(),
        "{} of {FOLLOWERS} feeds are wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
}
