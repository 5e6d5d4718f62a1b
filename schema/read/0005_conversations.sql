-- Replies, engagement, follow lists by time and profile search.

-- The replied-to post and its author, on the reply.
ALTER TABLE posts
    ADD COLUMN in_reply_to_id        BIGINT,
    ADD COLUMN in_reply_to_author_id BIGINT;

-- Thread structure, kept when posts are deleted so a thread can be walked
-- through a deleted post. Pages of a post's replies walk the primary key.
CREATE TABLE replies (
    parent_id     BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    post_id       BIGINT NOT NULL,
    PRIMARY KEY (parent_id, created_at_ms, post_id)
);
CREATE UNIQUE INDEX replies_by_post ON replies (post_id);

-- The newest counts the write side published per post.
CREATE TABLE post_counts (
    post_id BIGINT PRIMARY KEY,
    likes   BIGINT NOT NULL,
    replies BIGINT NOT NULL,
    reposts BIGINT NOT NULL,
    version BIGINT NOT NULL
);

-- Whether a user likes a post, as of the post's counts version `version`.
CREATE TABLE likes (
    user_id BIGINT NOT NULL,
    post_id BIGINT NOT NULL,
    liked   BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (user_id, post_id)
);

-- Follows with their time (ms since the epoch, the unit of list cursors),
-- for the followers and following lists.
CREATE TABLE follow_edges (
    follower_id    BIGINT NOT NULL,
    followee_id    BIGINT NOT NULL,
    followed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follow_edges_followers ON follow_edges (followee_id, followed_at_ms, follower_id);
CREATE INDEX follow_edges_following ON follow_edges (follower_id, followed_at_ms, followee_id);

-- Case-insensitive prefix search of usernames and display names.
CREATE INDEX profiles_username_prefix ON profiles (lower(username) text_pattern_ops);
CREATE INDEX profiles_display_name_prefix ON profiles (lower(display_name) text_pattern_ops);
