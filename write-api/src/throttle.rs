//! Rate limits and login throttling, kept in the write database so every
//! replica agrees.
//!
//! [`RateLimit`] counts attempts per (action, subject) in fixed windows:
//! logins and registrations per client address, failed logins per account,
//! and writes (posts, follows) per account ([`WriteLimits`]).
//! Login has three limits, all checked before any password is hashed:
//! - per client address: at most `per_address` attempts in a window;
//! - per account, from all addresses: once `per_account` failures pile up in
//!   a window, the account takes no more attempts until the window ends, so
//!   a guessing attack spread over many addresses is slowed too;
//! - per (username, client address): after `threshold` consecutive failures
//!   each further failure locks that pair for 2^(failures - threshold)
//!   seconds, capped at `max_lock`. The lock is per address, so an
//!   attacker's failures do not lock the owner out from elsewhere, and the
//!   cap bounds any lock.
//!
//! Unknown usernames are throttled exactly like known ones, so a 429
//! reveals nothing about which accounts exist.

use std::time::Duration;

use platform::error::ApiError;
use sqlx::PgPool;

/// At most `limit` attempts of `action` per subject in each fixed window.
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub action: &'static str,
    pub limit: i32,
    pub window: Duration,
}

/// Writes per account: what a compromised or runaway client can do.
#[derive(Debug, Clone)]
pub struct WriteLimits {
    pub posts: RateLimit,
    /// Follows and unfollows together.
    pub follows: RateLimit,
    /// Likes and unlikes together.
    pub likes: RateLimit,
    /// Reposts and their undoing together.
    pub reposts: RateLimit,
    /// Moves of the notifications read marker.
    pub markers: RateLimit,
}

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    pub threshold: i32,
    pub max_lock: Duration,
    /// Login attempts per client address.
    pub per_address: RateLimit,
    /// Failed logins per account, from all addresses.
    pub per_account: RateLimit,
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

/// The start of the window `now()` falls in, as SQL over the window's
/// length in seconds (`$3`).
macro_rules! window_start {
    () => {
        "date_bin(make_interval(secs => $3), now(), TIMESTAMPTZ '2000-01-01')"
    };
}

impl RateLimit {
    /// Counts an attempt by `subject`: a 429 with `Retry-After` past the limit.
    pub async fn admit(&self, db: &PgPool, subject: &str) -> Result<(), ApiError> {
        match self.hit(db, subject).await? {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after_secs } => {
                Err(ApiError::too_many_requests(retry_after_secs))
            }
        }
    }

    fn verdict(&self, attempts: i32, window_left: f64, allowed_up_to: i32) -> Verdict {
        if attempts > allowed_up_to {
            Verdict::Limited {
                retry_after_secs: seconds(window_left),
            }
        } else {
            Verdict::Allowed
        }
    }

    /// Counts an attempt by `subject` and says whether it may proceed.
    pub async fn hit(&self, db: &PgPool, subject: &str) -> Result<Verdict, sqlx::Error> {
        let (attempts, left): (i32, f64) = sqlx::query_as(concat!(
            "INSERT INTO rate_windows (action, subject, window_start, attempts)
             VALUES ($1, $2, ",
            window_start!(),
            ", 1)
             ON CONFLICT (action, subject) DO UPDATE SET
                 attempts = CASE WHEN rate_windows.window_start = EXCLUDED.window_start
                                 THEN rate_windows.attempts + 1 ELSE 1 END,
                 window_start = EXCLUDED.window_start
             RETURNING attempts,
                 extract(epoch FROM window_start + make_interval(secs => $3) - now())::float8"
        ))
        .bind(self.action)
        .bind(subject)
        .bind(self.window.as_secs_f64())
        .fetch_one(db)
        .await?;
        Ok(self.verdict(attempts, left, self.limit))
    }

    /// Whether `subject` has used up this window, without counting.
    pub async fn check(&self, db: &PgPool, subject: &str) -> Result<Verdict, sqlx::Error> {
        let row: Option<(i32, f64)> = sqlx::query_as(concat!(
            "SELECT attempts,
                 extract(epoch FROM window_start + make_interval(secs => $3) - now())::float8
             FROM rate_windows
             WHERE action = $1 AND subject = $2 AND window_start = ",
            window_start!()
        ))
        .bind(self.action)
        .bind(subject)
        .bind(self.window.as_secs_f64())
        .fetch_optional(db)
        .await?;
        Ok(row.map_or(Verdict::Allowed, |(attempts, left)| {
            self.verdict(attempts, left, self.limit - 1)
        }))
    }
}

impl LoginThrottle {
    /// Counts an attempt by `client` on `username` and says whether it may proceed.
    pub async fn admit(
        &self,
        db: &PgPool,
        username: &str,
        client: &str,
    ) -> Result<Verdict, sqlx::Error> {
        let verdict = self.per_address.hit(db, client).await?;
        if verdict != Verdict::Allowed {
            return Ok(verdict);
        }
        let verdict = self.per_account.check(db, username).await?;
        if verdict != Verdict::Allowed {
            return Ok(verdict);
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
        self.per_account.hit(db, username).await?;
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

    /// Deletes unlocked failure counters untouched for a day and rate
    /// windows that ended long ago; run periodically.
    pub async fn delete_stale(db: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM login_failures
             WHERE updated_at < now() - interval '1 day'
               AND (locked_until IS NULL OR locked_until < now())",
        )
        .execute(db)
        .await?;
        sqlx::query("DELETE FROM rate_windows WHERE window_start < now() - interval '1 day'")
            .execute(db)
            .await?;
        Ok(())
    }
}
