-- The write database: the source of truth. Every command writes its rows
-- and one outbox row in the same transaction.

CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    display_name    TEXT NOT NULL DEFAULT '',
    bio             TEXT NOT NULL DEFAULT '',
    followers_count BIGINT NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count BIGINT NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    posts_count     BIGINT NOT NULL DEFAULT 0 CHECK (posts_count >= 0),
    celebrity       BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Unique regardless of case.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE follows (
    follower_id BIGINT NOT NULL REFERENCES users (id),
    followee_id BIGINT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_by_followee ON follows (followee_id, follower_id);

CREATE TABLE posts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id   BIGINT NOT NULL REFERENCES users (id),
    text        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    edited_at   TIMESTAMPTZ,
    deleted_at  TIMESTAMPTZ
);
CREATE INDEX posts_by_author ON posts (author_id, created_at DESC, id DESC);

-- The transactional outbox. `txid` is the writing transaction's id: the
-- relay publishes in (txid, seq) order and only rows whose transaction is
-- older than every running one, so a transaction that commits late is
-- never skipped (sequence values are not commit-ordered).
CREATE TABLE outbox (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       UUID NOT NULL UNIQUE,
    aggregate_type TEXT NOT NULL,
    aggregate_id   BIGINT NOT NULL,
    event_type     TEXT NOT NULL,
    event_version  SMALLINT NOT NULL,
    key            TEXT NOT NULL,
    payload        JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    txid           XID8 NOT NULL DEFAULT pg_current_xact_id(),
    published_at   TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (txid, seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes the relay at commit time; it also polls, in case a notification is lost.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Refresh tokens are stored only as SHA-256 hashes. Tokens rotated from
-- one login share a family; reuse of a spent token revokes the family.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    family_id   UUID NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
