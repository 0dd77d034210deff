-- The agent's memory and spending (issue 4). Keep it column-for-column in
-- step with ../sqlite/00004_agent.sql.
--
-- conversation_messages is a project's conversation with the model, one row
-- per message in order (seq), so a follow-up prompt continues it. content is
-- the JSON array of the message's blocks (llm.Block).
-- model_usage is one row per model call: tokens and cost in millionths of a
-- US dollar, by kind (feature work or fix attempts), for the per-run and
-- per-user monthly budgets.
-- projects.model is the project's model id; empty means the server default.

-- +goose Up
CREATE TABLE conversation_messages (
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    run_id     TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, seq)
);

CREATE TABLE model_usage (
    id                    TEXT    PRIMARY KEY,
    run_id                TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    project_id            TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id               TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model                 TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    input_tokens          BIGINT NOT NULL,
    output_tokens         BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens     BIGINT NOT NULL,
    cost_micros           BIGINT NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE INDEX model_usage_run_id_idx ON model_usage (run_id);
CREATE INDEX model_usage_project_id_idx ON model_usage (project_id);
CREATE INDEX model_usage_user_id_created_at_idx ON model_usage (user_id, created_at);

ALTER TABLE projects ADD COLUMN model TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE projects DROP COLUMN model;
DROP TABLE model_usage;
DROP TABLE conversation_messages;
