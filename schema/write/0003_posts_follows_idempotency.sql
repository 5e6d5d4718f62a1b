-- Idempotency keys: the first response to (account, key) is kept for 24 h
-- and replayed for repeats. Written in the command's own transaction.
CREATE TABLE idempotency_keys (
    user_id      BIGINT NOT NULL REFERENCES users (id),
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       SMALLINT,
    body         JSONB,
    consistency  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
