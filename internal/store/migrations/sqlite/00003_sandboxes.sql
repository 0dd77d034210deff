-- Sandboxes and where they are in their lifecycle. Keep it column-for-column
-- in step with ../postgres/00003_sandboxes.sql.
--
-- The engine (bwrap, daytona) owns the sandbox itself; this row is what the
-- server decided about it, so that a restart knows which sandboxes should be
-- running and whose they are. project_id and user_id carry no foreign key:
-- a sandbox outlives a deleted project until it is reaped.
-- processes is a JSON array of the supervised processes ({name, command})
-- to start again when the sandbox resumes.

-- +goose Up
CREATE TABLE sandboxes (
    id             TEXT    PRIMARY KEY,
    project_id     TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    engine         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    processes      TEXT    NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    stopped_at     INTEGER
);
CREATE INDEX sandboxes_user_id_idx ON sandboxes (user_id, created_at DESC, id DESC);
CREATE INDEX sandboxes_project_id_idx ON sandboxes (project_id);

-- +goose Down
DROP TABLE sandboxes;
