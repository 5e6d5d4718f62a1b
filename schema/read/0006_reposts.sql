-- Reposts. A repost is a row of `posts` (its id comes from the write side's
-- posts sequence) naming the reposted post and that post's creation time.
ALTER TABLE posts
    ADD COLUMN repost_of_id            BIGINT,
    ADD COLUMN repost_of_created_at_ms BIGINT;

-- Whether a user reposts a post, as of the post's counts version `version`.
CREATE TABLE reposts (
    user_id  BIGINT NOT NULL,
    post_id  BIGINT NOT NULL,
    reposted BOOLEAN NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (user_id, post_id)
);

-- Entries that offered a reader's home feed a post: its reposts by accounts
-- the reader follows, and the post itself when a follow's backfill brought
-- it while a repost held its place. A post shows once per feed, through
-- whichever offer is in `home_feed`; when that one leaves, the oldest other
-- offer takes its place.
CREATE TABLE feed_offers (
    owner_id            BIGINT NOT NULL,
    original_id         BIGINT NOT NULL,
    entry_id            BIGINT NOT NULL,
    entry_created_at_ms BIGINT NOT NULL,
    entry_author_id     BIGINT NOT NULL,
    PRIMARY KEY (owner_id, original_id, entry_id)
);
