-- Replies and likes. A post's counts live on its row and change in the
-- transaction that changes them; `counts_version` grows with every change,
-- so the read model keeps the newest counts whatever order events arrive in.
ALTER TABLE posts
    ADD COLUMN in_reply_to_id BIGINT REFERENCES posts (id),
    ADD COLUMN likes_count    BIGINT NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    ADD COLUMN replies_count  BIGINT NOT NULL DEFAULT 0 CHECK (replies_count >= 0),
    ADD COLUMN reposts_count  BIGINT NOT NULL DEFAULT 0 CHECK (reposts_count >= 0),
    ADD COLUMN counts_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX posts_replies ON posts (in_reply_to_id, created_at, id)
    WHERE in_reply_to_id IS NOT NULL;

-- A like is membership of this set; `posts.likes_count` is its size.
CREATE TABLE likes (
    post_id    BIGINT NOT NULL REFERENCES posts (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_by_user ON likes (user_id, post_id);
