-- How far each account has read its home timeline (a post id); `version`
-- grows with every change, so the read model keeps the newest.
CREATE TABLE home_markers (
    user_id      BIGINT PRIMARY KEY REFERENCES users (id),
    last_read_id BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Notifications an account dismissed one by one. Notifications are made by
-- the projector from their causes, so a rebuild leaves these out.
CREATE TABLE notification_dismissals (
    user_id         BIGINT NOT NULL REFERENCES users (id),
    notification_id BIGINT NOT NULL,
    dismissed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notification_id)
);

-- The newest clear of each account's inbox: every notification with an id
-- up to `up_to` is gone (dismissals at or below it are dropped then).
CREATE TABLE notification_clears (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id),
    up_to      BIGINT NOT NULL,
    cleared_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A user's likes newest first, as a rebuild lists their favourites.
CREATE INDEX likes_by_user_and_id ON likes (user_id, id);
