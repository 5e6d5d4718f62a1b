-- Authors whose posts a reader's home feed pulls at read time (fan-out on
-- read): followees that were celebrities at some point while followed.
-- An author who stops being a celebrity stays here for as long as the
-- follow lasts, because the posts written meanwhile reached no feed.
CREATE TABLE celebrity_follows (
    follower_id  BIGINT NOT NULL,
    celebrity_id BIGINT NOT NULL,
    PRIMARY KEY (follower_id, celebrity_id)
);
