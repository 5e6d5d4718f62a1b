//! The projector killed with SIGKILL in the middle of large fan-outs, again
//! and again, under a stream of posts, edits, deletes, follows and
//! unfollows: once it has caught up, every feed equals an oracle computed
//! from PostgreSQL: nothing missing, nothing twice, nothing deleted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contracts::ids::UserId;
use e2e::Stack;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use serde_json::json;

const ACTIVE: usize = 6;
const BULK: i64 = 2_000;
const CELEBRITY_FANS: i64 = 1_600;
const OPERATIONS: usize = 500;
const KILLS: usize = 4;

/// The feed every user should see, from the write database: their own live
/// posts and those of everyone they follow now, newest first, as texts.
async fn oracle(db: &sqlx::PgPool, user: i64) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT text FROM posts p
         WHERE p.deleted_at IS NULL AND (p.author_id = $1 OR p.author_id IN (
             SELECT followee_id FROM follows WHERE follower_id = $1))
         ORDER BY floor(extract(epoch FROM p.created_at) * 1000) DESC, p.id DESC",
    )
    .bind(user)
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|(t,)| t)
    .collect()
}

/// Loads `BULK` users straight into the write database: each follows the
/// first two active users, and `CELEBRITY_FANS` of them the third, who is
/// a celebrity. Counts are set to match, as the write API keeps them.
async fn load_bulk(db: &sqlx::PgPool, active: &[i64]) -> Vec<i64> {
    let bulk: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO users (username, email, password_hash)
         SELECT 'bulk_' || g, 'bulk_' || g || '@example.com', 'x' FROM generate_series(1, $1) g
         RETURNING id",
    )
    .bind(BULK)
    .fetch_all(db)
    .await
    .unwrap();
    let bulk: Vec<i64> = bulk.into_iter().map(|(id,)| id).collect();
    for (followee, fans) in [
        (active[0], BULK),
        (active[1], BULK),
        (active[2], CELEBRITY_FANS),
    ] {
        sqlx::query(
            "INSERT INTO follows (follower_id, followee_id)
             SELECT id, $2 FROM unnest($1::bigint[]) AS id",
        )
        .bind(&bulk[..fans as usize])
        .bind(followee)
        .execute(db)
        .await
        .unwrap();
    }
    sqlx::query(
        "UPDATE users u SET
             followers_count = (SELECT count(*) FROM follows WHERE followee_id = u.id),
             following_count = (SELECT count(*) FROM follows WHERE follower_id = u.id),
             celebrity = (u.id = $1), version = version + 1",
    )
    .bind(active[2])
    .execute(db)
    .await
    .unwrap();
    bulk
}

/// Waits (up to 10 s) until the newest post of `authors` is being fanned
/// out right now: it has reached more feeds than a moment ago, but not yet
/// all. Returns how many it reached.
async fn fan_out_in_progress(read_db: &sqlx::PgPool, authors: &[i64]) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = None;
    while Instant::now() < deadline {
        let now: Option<(i64, i64)> = sqlx::query_as(
            "SELECT post_id, count(*) FROM home_feed WHERE post_id = (
                 SELECT max(id) FROM posts WHERE author_id = ANY($1))
             GROUP BY post_id",
        )
        .bind(authors)
        .fetch_optional(read_db)
        .await
        .unwrap();
        if let (Some((post, reached)), Some((post_before, reached_before))) = (now, before)
            && post == post_before
            && reached > reached_before
            && reached < BULK
        {
            return Some(reached);
        }
        before = now;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Writes a seeded random stream of commands through the write API;
/// returns how many it wrote.
async fn write_stream(
    write_url: String,
    tokens: HashMap<i64, String>,
    active: Vec<i64>,
    bulk: Vec<i64>,
) -> usize {
    let http = Client::new();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut live: Vec<(i64, String)> = Vec::new();
    let mut writes = 0;
    for n in 0..OPERATIONS {
        let roll = rng.random_range(0..100);
        let author = active[rng.random_range(0..active.len())];
        let fan = if rng.random_bool(0.5) {
            bulk[rng.random_range(0..bulk.len())]
        } else {
            active[rng.random_range(0..active.len())]
        };
        let followee = active[rng.random_range(0..active.len())];
        let request = match roll {
            0..55 => http
                .post(format!("{write_url}/v1/posts"))
                .bearer_auth(&tokens[&author])
                .json(&json!({"text": format!("post {n}")})),
            55..65 if !live.is_empty() => {
                let (author, id) = live.swap_remove(rng.random_range(0..live.len()));
                http.delete(format!("{write_url}/v1/posts/{id}"))
                    .bearer_auth(&tokens[&author])
            }
            65..70 if !live.is_empty() => {
                let (author, id) = &live[rng.random_range(0..live.len())];
                http.patch(format!("{write_url}/v1/posts/{id}"))
                    .bearer_auth(&tokens[author])
                    .json(&json!({"text": format!("edit {n}")}))
            }
            _ if fan == followee => continue,
            70..85 => http
                .put(format!("{write_url}/v1/users/{followee}/follow"))
                .bearer_auth(&tokens[&fan]),
            _ => http
                .delete(format!("{write_url}/v1/users/{followee}/follow"))
                .bearer_auth(&tokens[&fan]),
        };
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "operation {n}: {}",
            response.status()
        );
        writes += 1;
        if response.status() == StatusCode::CREATED {
            let body: serde_json::Value = response.json().await.unwrap();
            live.push((author, body["id"].as_str().unwrap().to_owned()));
        }
    }
    writes
}

#[tokio::test]
async fn feeds_equal_the_oracle_after_the_projector_is_killed_mid_fan_out() {
    let mut stack = Stack::start_with(&[
        ("CELEBRITY_FOLLOWER_THRESHOLD", "1500"),
        // Small fan-out pages make each big fan-out many steps long, so
        // kills land between them.
        ("FANOUT_PAGE_SIZE", "100"),
        // The restarted projector is the same group member (static
        // membership): tansu never evicts a member that died without
        // leaving, so a new dynamic member would wait forever.
        ("PROJECTOR_INSTANCE_ID", "projector-0"),
    ])
    .await;
    let http = Client::new();
    let mut active = Vec::new();
    for n in 0..ACTIVE {
        let account = stack.account(&http, &format!("active_{n}")).await;
        active.push(account.id.parse::<i64>().unwrap());
    }
    let db = sqlx::PgPool::connect(&stack.write_db).await.unwrap();
    let bulk = load_bulk(&db, &active).await;
    let output = stack.run("projector", &["rebuild"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let issuer = Stack::token_issuer();
    let tokens: HashMap<i64, String> = active
        .iter()
        .chain(&bulk)
        .map(|&id| (id, issuer.access_token(UserId(id), uuid::Uuid::new_v4())))
        .collect();
    let writer = tokio::spawn(write_stream(
        stack.write_url.clone(),
        tokens.clone(),
        active.clone(),
        bulk.clone(),
    ));
    let read_db = sqlx::PgPool::connect(&stack.read_db).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut mid_fan_out = 0;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..800))).await;
        if let Some(reached) = fan_out_in_progress(&read_db, &active[..2]).await {
            eprintln!(
                "killing the projector when a fan-out had reached {reached} of {BULK}+ feeds"
            );
            mid_fan_out += 1;
        }
        stack.kill("projector").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stack.restart("projector").await;
    }
    let writes = writer.await.unwrap();
    eprintln!("{writes} writes, {KILLS} kills, {mid_fan_out} of them mid-fan-out");

    // Users to check: every active user and a seeded sample of the bulk.
    let mut sample: Vec<i64> = active.clone();
    sample.extend((0..200).map(|_| bulk[rng.random_range(0..bulk.len())]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let no_wait = contracts::consistency::ConsistencyToken::nothing().encode();
    let mut pending = sample;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for &user in &pending {
            let feed = stack.whole_feed(&http, &tokens[&user], &no_wait, 100).await;
            let expected = oracle(&db, user).await;
            if feed != expected {
                assert!(
                    Instant::now() < deadline,
                    "user {user}'s feed never matched the oracle:\n  feed:     {feed:?}\n  expected: {expected:?}"
                );
                still.push(user);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
