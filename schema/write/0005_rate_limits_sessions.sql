-- Attempts per (action, subject) in fixed windows: logins and
-- registrations per client address, failed logins per account. Subjects
-- are parsed addresses or account names, so their size is bounded.
CREATE TABLE rate_windows (
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    attempts     INT NOT NULL,
    PRIMARY KEY (action, subject)
);
DROP TABLE login_rate;

-- A session (a refresh-token family) ends at this time however often it is
-- refreshed. Sessions started before this column existed get the default.
ALTER TABLE refresh_tokens
    ADD COLUMN session_expires_at TIMESTAMPTZ NOT NULL DEFAULT now() + interval '90 days';

-- Revoked sessions (logout, refresh-token reuse). Access tokens name their
-- session; every host refuses those of a revoked one. The read side learns
-- of revocations through `session.revoked` events. Rows are kept until no
-- access token of the session can be valid.
CREATE TABLE revoked_sessions (
    session_id         UUID PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id),
    revoked_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    tokens_valid_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_sessions_valid_until ON revoked_sessions (tokens_valid_until);
