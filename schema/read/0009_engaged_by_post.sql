-- Who likes and who reposts a post ("favourited by", "reblogged by"),
-- highest account id first.
CREATE INDEX likes_by_post ON likes (post_id, user_id) WHERE liked;
CREATE INDEX reposts_by_post ON reposts (post_id, user_id) WHERE reposted;
