-- OAuth for the Mastodon-compatible API.

-- Client applications (POST /api/v1/apps). The secret is kept as its
-- SHA-256: it is shown once, when the application is created.
CREATE TABLE oauth_apps (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id          TEXT NOT NULL UNIQUE,
    client_secret_hash BYTEA NOT NULL,
    name               TEXT NOT NULL,
    website            TEXT,
    redirect_uris      TEXT[] NOT NULL,
    scopes             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Authorization codes: single use, ten minutes, bound to the client, the
-- redirect URI and (PKCE) the challenge.
CREATE TABLE oauth_codes (
    code_hash      BYTEA PRIMARY KEY,
    app_id         BIGINT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    user_id        BIGINT NOT NULL REFERENCES users (id),
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    code_challenge TEXT,
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ
);

-- Access tokens. A user's token is a long-lived access JWT whose session
-- (`sid`) is `session_id`: revoking it revokes that session, which reaches
-- the read side as `session.revoked`. An application's own token
-- (client credentials, no user) is opaque and checked here only: it can do
-- nothing but register an account.
CREATE TABLE oauth_tokens (
    session_id UUID PRIMARY KEY,
    app_id     BIGINT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    user_id    BIGINT REFERENCES users (id),
    token_hash BYTEA NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX oauth_tokens_by_user ON oauth_tokens (user_id) WHERE user_id IS NOT NULL;
