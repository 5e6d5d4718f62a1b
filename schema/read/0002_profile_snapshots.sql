-- Profiles hold the newest user snapshot the write side published: bio,
-- exact counts, and the version that orders snapshots.
ALTER TABLE profiles
    ADD COLUMN bio             TEXT NOT NULL DEFAULT '',
    ADD COLUMN followers_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN following_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN posts_count     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN version         BIGINT NOT NULL DEFAULT 0;
