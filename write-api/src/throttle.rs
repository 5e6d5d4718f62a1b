//! Login throttling, kept in the write database so every replica agrees.
//!
//! Two limits, both checked before any password is hashed:
//! - per client address: at most `per_minute` attempts in a fixed minute;
//! - per (username, client address): after `threshold` consecutive failures
//!   each further failure locks that pair for 2^(failures - threshold)
//!   seconds, capped at `max_lock`. The lock is per address, so an
//!   attacker's failures do not lock the owner out from elsewhere, and the
//!   cap bounds any lock. Unknown usernames are throttled exactly like known
//!   ones, so a 429 reveals nothing about which accounts exist.

use std::time::Duration;

use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    pub threshold: i32,
    pub max_lock: Duration,
    pub per_minute: i32,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Too many attempts: retry after this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

fn seconds(remaining: f64) -> u64 {
    remaining.ceil().max(1.0) as u64
}

impl LoginThrottle {
    /// Counts an attempt by `client` on `username` and says whether it may proceed.
    pub async fn admit(
        &self,
        db: &PgPool,
        username: &str,
        client: &str,
    ) -> Result<Verdict, sqlx::Error> {
        let (attempts, window_left): (i32, f64) = sqlx::query_as(
            "INSERT INTO login_rate (client, window_start, attempts)
             VALUES ($1, date_trunc('minute', now()), 1)
             ON CONFLICT (client) DO UPDATE SET
                 attempts = CASE WHEN login_rate.window_start = date_trunc('minute', now())
                                 THEN login_rate.attempts + 1 ELSE 1 END,
                 window_start = date_trunc('minute', now())
             RETURNING attempts,
                 extract(epoch FROM window_start + interval '1 minute' - now())::float8",
        )
        .bind(client)
        .fetch_one(db)
        .await?;
        if attempts > self.per_minute {
            return Ok(Verdict::Limited {
                retry_after_secs: seconds(window_left),
            });
        }
        let locked: Option<(f64,)> = sqlx::query_as(
            "SELECT extract(epoch FROM locked_until - now())::float8 FROM login_failures
             WHERE username = $1 AND client = $2 AND locked_until > now()",
        )
        .bind(username)
        .bind(client)
        .fetch_optional(db)
        .await?;
        Ok(match locked {
            Some((left,)) => Verdict::Limited {
                retry_after_secs: seconds(left),
            },
            None => Verdict::Allowed,
        })
    }

    /// Records a failed attempt, locking the pair past the threshold.
    pub async fn failed(
        &self,
        db: &PgPool,
        username: &str,
        client: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO login_failures AS f (username, client, failures, locked_until)
             VALUES ($1, $2, 1, CASE WHEN $3 <= 1 THEN now() + interval '1 second' END)
             ON CONFLICT (username, client) DO UPDATE SET
                 failures = least(f.failures + 1, 1000),
                 locked_until = CASE WHEN f.failures + 1 >= $3
                     THEN now() + make_interval(secs => least(power(2, f.failures + 1 - $3), $4))
                     ELSE NULL END,
                 updated_at = now()",
        )
        .bind(username)
        .bind(client)
        .bind(self.threshold)
        .bind(self.max_lock.as_secs_f64())
        .execute(db)
        .await?;
        Ok(())
    }

    /// Clears the pair's failures after a successful login.
    pub async fn succeeded(
        &self,
        db: &PgPool,
        username: &str,
        client: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM login_failures WHERE username = $1 AND client = $2")
            .bind(username)
            .bind(client)
            .execute(db)
            .await?;
        Ok(())
    }

    /// Deletes unlocked failure counters untouched for a day and finished
    /// rate windows; run periodically.
    pub async fn delete_stale(db: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM login_failures
             WHERE updated_at < now() - interval '1 day'
               AND (locked_until IS NULL OR locked_until < now())",
        )
        .execute(db)
        .await?;
        sqlx::query("DELETE FROM login_rate WHERE window_start < now() - interval '1 hour'")
            .execute(db)
            .await?;
        Ok(())
    }
}
