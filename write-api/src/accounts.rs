//! Accounts: registration rules, creation and credential checks.

use contracts::events::{Event, UserCreated, UserSnapshot, UserUpdated};
use contracts::ids::{UserId, normalize_username};
use platform::problem::FieldError;
use sqlx::PgPool;

use crate::outbox;
use crate::rows::UserRow;
use crate::user_columns;

const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// A registration whose fields all passed validation.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// A syntactic check: one `@`, a non-empty local part, a dotted domain,
/// no spaces or control characters, at most 254 bytes.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_common_password(password: &str) -> bool {
    let lowered = password.to_lowercase();
    COMMON_PASSWORDS.lines().any(|p| p == lowered)
}

/// Checks every field and reports every problem at once.
pub fn validate(
    username: &str,
    email: &str,
    password: &str,
) -> Result<NewAccount, Vec<FieldError>> {
    let mut errors = Vec::new();
    let username = normalize_username(username);
    if username.is_none() {
        errors.push(FieldError::new(
            "username",
            "must be 3-30 characters of a-z, 0-9 and _",
        ));
    }
    let email = email.trim().to_owned();
    if !valid_email(&email) {
        errors.push(FieldError::new("email", "must be a valid email address"));
    }
    let length = password.chars().count();
    if !(10..=128).contains(&length) {
        errors.push(FieldError::new("password", "must be 10-128 characters"));
    } else if is_common_password(password) {
        errors.push(FieldError::new("password", "is too common; choose another"));
    }
    match username {
        Some(username) if errors.is_empty() => Ok(NewAccount {
            username,
            email,
            password: password.to_owned(),
        }),
        _ => Err(errors),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("taken")]
    Taken(Vec<FieldError>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The fields of `account` that an existing account already uses (names
/// and emails are compared regardless of case). Checked before the
/// password is hashed, so a duplicate costs a lookup, not a hash; [`create`]
/// still catches a race between two registrations.
pub async fn taken(db: &PgPool, account: &NewAccount) -> Result<Vec<FieldError>, sqlx::Error> {
    let (username, email): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1)),
                EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2))",
    )
    .bind(&account.username)
    .bind(&account.email)
    .fetch_one(db)
    .await?;
    let mut errors = Vec::new();
    if username {
        errors.push(FieldError::new("username", "is already taken"));
    }
    if email {
        errors.push(FieldError::new("email", "is already registered"));
    }
    Ok(errors)
}

/// Creates the account and its `user.created` event in one transaction.
pub async fn create(
    db: &PgPool,
    account: &NewAccount,
    password_hash: &str,
) -> Result<(UserSnapshot, uuid::Uuid), CreateError> {
    let mut tx = db.begin().await?;
    let inserted: Result<UserRow, sqlx::Error> = sqlx::query_as(concat!(
        "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) RETURNING ",
        user_columns!()
    ))
    .bind(&account.username)
    .bind(&account.email)
    .bind(password_hash)
    .fetch_one(&mut *tx)
    .await;
    let user = match inserted {
        Ok(row) => UserSnapshot::from(row),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let which = match e.constraint() {
                Some("users_email_key") => FieldError::new("email", "is already registered"),
                _ => FieldError::new("username", "is already taken"),
            };
            return Err(CreateError::Taken(vec![which]));
        }
        Err(e) => return Err(e.into()),
    };
    let event = Event::UserCreated(UserCreated { user: user.clone() });
    let envelope = outbox::append(&mut tx, &event).await?;
    tx.commit().await?;
    Ok((user, envelope.id))
}

/// Most characters in a display name and in a bio.
pub const MAX_DISPLAY_NAME: usize = 50;
pub const MAX_BIO: usize = 160;

/// A validated profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

fn check_text(
    name: &str,
    value: Option<&str>,
    max: usize,
    newlines: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?.trim();
    if value.chars().count() > max {
        errors.push(FieldError::new(
            name,
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && !(newlines && c == '\n'))
    {
        errors.push(FieldError::new(name, "must not contain control characters"));
    }
    Some(value.to_owned())
}

/// Checks a profile change: display name at most 50 characters, bio at
/// most 160, both trimmed, no control characters (the bio may have newlines).
pub fn validate_profile(
    display_name: Option<&str>,
    bio: Option<&str>,
) -> Result<ProfileChange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let change = ProfileChange {
        display_name: check_text(
            "display_name",
            display_name,
            MAX_DISPLAY_NAME,
            false,
            &mut errors,
        ),
        bio: check_text("bio", bio, MAX_BIO, true, &mut errors),
    };
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(errors)
    }
}

/// Applies a profile change and appends `user.updated`, inside the
/// caller's transaction (which holds the account's key lock).
pub async fn update_profile(
    conn: &mut sqlx::PgConnection,
    user: UserId,
    change: &ProfileChange,
) -> Result<(UserSnapshot, uuid::Uuid), sqlx::Error> {
    let row: UserRow = sqlx::query_as(concat!(
        "UPDATE users SET display_name = coalesce($2, display_name), bio = coalesce($3, bio),
             version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        user_columns!()
    ))
    .bind(user.0)
    .bind(change.display_name.as_deref())
    .bind(change.bio.as_deref())
    .fetch_one(&mut *conn)
    .await?;
    let user = UserSnapshot::from(row);
    let envelope = outbox::append(
        conn,
        &Event::UserUpdated(UserUpdated { user: user.clone() }),
    )
    .await?;
    Ok((user, envelope.id))
}

/// The id, username and password hash of the account named `username`, if any.
pub async fn credentials(
    db: &PgPool,
    username: &str,
) -> Result<Option<(UserId, String, String)>, sqlx::Error> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, username, password_hash FROM users WHERE lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, name, hash)| (UserId(id), name, hash)))
}

/// [`credentials`] of the account registered with `email`.
pub async fn credentials_by_email(
    db: &PgPool,
    email: &str,
) -> Result<Option<(UserId, String, String)>, sqlx::Error> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, username, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, name, hash)| (UserId(id), name, hash)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field() {
        let errors = validate("a!", "nope", "short").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }

    #[test]
    fn rejects_common_passwords_regardless_of_case() {
        let errors = validate("alice", "a@b.co", "PASSWORD123").unwrap_err();
        assert_eq!(errors[0].message, "is too common; choose another");
        assert!(validate("alice", "a@b.co", "a fine long passphrase").is_ok());
    }

    #[test]
    fn profile_fields_are_trimmed_and_limited() {
        let change = validate_profile(Some("  Alice  "), None).unwrap();
        assert_eq!(change.display_name.as_deref(), Some("Alice"));
        assert_eq!(change.bio, None);
        assert!(validate_profile(Some(&"é".repeat(50)), Some(&"b".repeat(160))).is_ok());
        let errors = validate_profile(Some(&"a".repeat(51)), Some(&"b".repeat(161))).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(validate_profile(None, Some("line\nbreak")).is_ok());
        assert!(validate_profile(Some("line\nbreak"), None).is_err());
    }

    #[test]
    fn emails_are_checked_syntactically() {
        for good in ["a@b.co", "first.last+tag@example.org"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "", "a", "@b.co", "a@b", "a@.b.co", "a@b.co.", "a b@c.de", "a@b@c.de", "a@b..co",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
