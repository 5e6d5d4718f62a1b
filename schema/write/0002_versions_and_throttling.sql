-- Every change to an account row bumps `version`; events carry the row's
-- snapshot with it so the read model keeps the newest.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Consecutive failed logins per (account name, client address): back-off
-- grows exponentially past a threshold and is capped, so nobody can lock an
-- owner out for long, and an attacker's address does not lock the owner's.
CREATE TABLE login_failures (
    username     TEXT NOT NULL,
    client       TEXT NOT NULL,
    failures     INT NOT NULL,
    locked_until TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (username, client)
);

-- Login attempts per client address in fixed one-minute windows.
CREATE TABLE login_rate (
    client       TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    attempts     INT NOT NULL
);
