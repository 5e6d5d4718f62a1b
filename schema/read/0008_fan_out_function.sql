-- Fanning a post out in one round trip. Every decision about a post's
-- place in feeds runs under the post's advisory lock (class 3, object the
-- id folded to 32 bits; see readmodel's postgres store) in a statement that
-- starts after the lock is held. A volatile PL/pgSQL function gives each of
-- its statements a fresh snapshot, so its second statement sees what the
-- decision before it committed, as a transaction of two statements would,
-- without the three extra round trips of BEGIN, the lock and COMMIT.
--
-- Adds the post to each of `owners`' feeds, except where a repost of it
-- holds its place: there the post waits as an offer. Returns the owners
-- reached.
CREATE FUNCTION fan_out_post(
    p_owners bigint[],
    p_ms bigint,
    p_id bigint,
    p_author bigint,
    p_lock integer
) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(3, p_lock);
    RETURN QUERY
    WITH held AS (
        SELECT DISTINCT c.owner_id FROM feed_offers c JOIN home_feed f
            ON f.owner_id = c.owner_id AND f.created_at_ms = c.entry_created_at_ms
                AND f.post_id = c.entry_id
        WHERE c.owner_id = ANY(p_owners) AND c.original_id = p_id AND c.entry_id <> p_id
    ), offered AS (
        INSERT INTO feed_offers (owner_id, original_id, entry_id, entry_created_at_ms,
            entry_author_id)
        SELECT owner_id, p_id, p_id, p_ms, p_author FROM held
        ON CONFLICT DO NOTHING
    ), reached AS (
        SELECT o.owner FROM unnest(p_owners) AS o(owner)
        WHERE o.owner NOT IN (SELECT owner_id FROM held)
    ), added AS (
        INSERT INTO home_feed (owner_id, created_at_ms, post_id)
        SELECT owner, p_ms, p_id FROM reached
        ON CONFLICT DO NOTHING
    )
    SELECT owner FROM reached;
END
$$;
