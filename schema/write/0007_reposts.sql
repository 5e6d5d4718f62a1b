-- Reposts. A repost takes its id from the posts' sequence, so reposts and
-- posts share one id space and the read model keeps both in one table of
-- posts. `posts.reposts_count` is the number of rows of a post here; undoing
-- a repost, or deleting the post, deletes its rows.
CREATE TABLE reposts (
    id         BIGINT PRIMARY KEY DEFAULT nextval(pg_get_serial_sequence('posts', 'id')),
    post_id    BIGINT NOT NULL REFERENCES posts (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (post_id, user_id)
);
CREATE INDEX reposts_by_user ON reposts (user_id, created_at DESC, id DESC);
