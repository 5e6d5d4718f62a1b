-- Notifications. Each is made by the projector from the event of its cause
-- and takes the cause's id, so a redelivered event notifies nobody twice
-- and notification ids order by time. Posts and reposts already draw ids
-- from the posts' sequence; likes and follows now do too, so no two causes
-- share an id.
ALTER TABLE likes
    ADD COLUMN id BIGINT NOT NULL DEFAULT nextval(pg_get_serial_sequence('posts', 'id'));
ALTER TABLE likes ADD CONSTRAINT likes_id_key UNIQUE (id);
ALTER TABLE follows
    ADD COLUMN id BIGINT NOT NULL DEFAULT nextval(pg_get_serial_sequence('posts', 'id'));
ALTER TABLE follows ADD CONSTRAINT follows_id_key UNIQUE (id);

-- The accounts a post's text names as @username, resolved when the post is
-- published (at most 10 per post); a rebuild remakes mentions from here.
CREATE TABLE post_mentions (
    post_id BIGINT NOT NULL REFERENCES posts (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX post_mentions_by_user ON post_mentions (user_id, post_id);

-- How far each account has read its notifications; `version` grows with
-- every change, so the read model keeps the newest.
CREATE TABLE notification_markers (
    user_id      BIGINT PRIMARY KEY REFERENCES users (id),
    last_read_id BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
