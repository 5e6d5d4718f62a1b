-- The durable read model on PostgreSQL: the local stand-in for the
-- Cassandra tables in schema/cassandra/. Written only by the projector,
-- read by the read API. Never the write database.

CREATE TABLE posts (
    id          BIGINT PRIMARY KEY,
    author_id   BIGINT NOT NULL,
    text        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    edited_at   TIMESTAMPTZ
);

CREATE TABLE profiles (
    id           BIGINT PRIMARY KEY,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX profiles_username ON profiles (username);

-- The follow graph as the projector sees it, by followee, for fan-out.
CREATE TABLE followers (
    followee_id BIGINT NOT NULL,
    follower_id BIGINT NOT NULL,
    PRIMARY KEY (followee_id, follower_id)
);

-- Every user's full home-feed history; pages walk the primary key backwards.
CREATE TABLE home_feed (
    owner_id      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    post_id       BIGINT NOT NULL,
    PRIMARY KEY (owner_id, created_at_ms, post_id)
);

CREATE TABLE timeline (
    author_id     BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    post_id       BIGINT NOT NULL,
    PRIMARY KEY (author_id, created_at_ms, post_id)
);
