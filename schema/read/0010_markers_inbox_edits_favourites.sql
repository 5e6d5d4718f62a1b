-- How far each user has read their home feed (a post id); the highest
-- version wins.
CREATE TABLE home_markers (
    user_id      BIGINT PRIMARY KEY,
    last_read_id BIGINT NOT NULL,
    version      BIGINT NOT NULL
);

-- Notifications withdrawn or dismissed, so a redelivered cause does not
-- bring them back (Cassandra gets the same from its write timestamps).
-- Trimmed with the inbox after 90 days, long past any redelivery.
CREATE TABLE notification_tombstones (
    recipient_id BIGINT NOT NULL,
    id           BIGINT NOT NULL,
    removed_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient_id, id)
);

-- Each inbox's newest clear: notifications with ids up to `up_to` are gone,
-- and stay out when their causes arrive later.
CREATE TABLE notifications_cleared (
    recipient_id BIGINT PRIMARY KEY,
    up_to        BIGINT NOT NULL
);

-- What each user likes, by the like's id ("favourites", newest first). An
-- ended like keeps its row, marked, so a redelivered like.created cannot
-- list it again (a new like of the post has a new id).
CREATE TABLE favourites (
    user_id    BIGINT NOT NULL,
    like_id    BIGINT NOT NULL,
    post_id    BIGINT NOT NULL,
    removed_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, like_id)
);
