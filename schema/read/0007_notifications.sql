-- Notifications: each recipient's inbox, keyed by the id of the cause (a
-- post, repost, like or follow), so a redelivered event stores nothing
-- twice. `kind` is follow, like, repost, reply or mention; `post_id` the
-- post it is about (none for a follow).
CREATE TABLE notifications (
    recipient_id BIGINT NOT NULL,
    id           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     BIGINT NOT NULL,
    post_id      BIGINT,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient_id, id)
);
-- A deleted post's notifications are withdrawn through this.
CREATE INDEX notifications_by_post ON notifications (post_id) WHERE post_id IS NOT NULL;

-- How far each user has read their notifications; the highest version wins.
CREATE TABLE notification_markers (
    user_id      BIGINT PRIMARY KEY,
    last_read_id BIGINT NOT NULL,
    version      BIGINT NOT NULL
);
