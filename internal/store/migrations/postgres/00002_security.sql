-- Multi-user security: disabled accounts, public previews, share links,
-- invitations and the audit log. Keep it column-for-column in step with
-- ../sqlite/00002_security.sql.

-- +goose Up
-- disabled_at is set while an admin has disabled the account: its sessions,
-- tokens and previews stop working.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- public_preview lets anyone, signed in or not, open the project's preview.
ALTER TABLE projects ADD COLUMN public_preview BOOLEAN NOT NULL DEFAULT FALSE;

-- A share link gives read-only access to one project's preview and code.
-- Only the SHA-256 of its token is stored.
CREATE TABLE shares (
    id         TEXT    PRIMARY KEY,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX shares_project_id_idx ON shares (project_id, created_at DESC);

-- An invitation lets one person sign up while registration is closed.
CREATE TABLE invites (
    token_hash TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL,
    created_by TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Security events, kept when their actors are deleted.
CREATE TABLE audit_events (
    id          TEXT    PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    event       TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL DEFAULT '',
    subject     TEXT    NOT NULL DEFAULT '',
    remote_addr TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE invites;
DROP TABLE shares;
ALTER TABLE projects DROP COLUMN public_preview;
ALTER TABLE users DROP COLUMN disabled_at;
