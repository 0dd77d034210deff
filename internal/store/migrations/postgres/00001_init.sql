-- PostgreSQL schema. Keep it column-for-column in step with
-- ../sqlite/00001_init.sql: sqlc generates one model set per engine and the
-- store converts between them, which only compiles while both are identical.
--
-- Times are BIGINT milliseconds since the Unix epoch (UTC); NULL only where a
-- time is optional (runs.finished_at). IDs are TEXT (UUIDv7 from the caller).

-- +goose Up
CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL,
    -- email_key is the case-folded email (strings.ToLower in Go, so both
    -- engines fold the same way); it carries the uniqueness.
    email_key     TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE projects (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    sandbox_id TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX projects_user_id_created_at_idx ON projects (user_id, created_at DESC, id DESC);

CREATE TABLE runs (
    id            TEXT    PRIMARY KEY,
    project_id    TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prompt        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    error_code    TEXT    NOT NULL DEFAULT '',
    error_message TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX runs_project_id_created_at_idx ON runs (project_id, created_at DESC);
CREATE INDEX runs_user_id_idx ON runs (user_id);
-- At most one running run per project; also serves RunningRuns.
CREATE UNIQUE INDEX runs_running_project_id_idx ON runs (project_id) WHERE status = 'running';

CREATE TABLE events (
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        BIGINT  NOT NULL CHECK (seq > 0),
    type       TEXT    NOT NULL,
    data       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- +goose Down
DROP TABLE events;
DROP TABLE runs;
DROP TABLE projects;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
