-- As migrations/sqlite/0012: the desk's OAuth2 grant, its tokens sealed with the token key,
-- (never in the clear), and what the last refresh said. `generation` grows with every store,
-- so that two desks refreshing at once never overwrite each other's rotated token.
CREATE TABLE oauth2_grants (
    name TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    scopes TEXT NOT NULL,
    refresh_token TEXT,
    access_token TEXT,
    access_obtained_at TEXT,
    access_expires_at TEXT,
    signed_in_at TEXT NOT NULL,
    refreshed_at TEXT,
    generation BIGINT NOT NULL,
    last_error TEXT,
    last_error_at TEXT,
    needs_login_since TEXT
);
