-- name: CreateUser :exec
INSERT INTO users (id, email, email_key, password_hash, is_admin, created_at)
VALUES (sqlc.arg(id), sqlc.arg(email), sqlc.arg(email_key), sqlc.arg(password_hash), sqlc.arg(is_admin), sqlc.arg(created_at));

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: UserByID :one
SELECT * FROM users WHERE id = sqlc.arg(id);

-- name: UserByEmailKey :one
SELECT * FROM users WHERE email_key = sqlc.arg(email_key);

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = sqlc.arg(id);

-- name: CreateSession :exec
INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(user_id), sqlc.arg(created_at), sqlc.arg(expires_at));

-- name: SessionByTokenHash :one
SELECT * FROM sessions WHERE token_hash = sqlc.arg(token_hash);

-- name: DeleteSession :exec
DELETE FROM sessions WHERE token_hash = sqlc.arg(token_hash);

-- name: DeleteExpiredSessions :exec
DELETE FROM sessions WHERE expires_at <= sqlc.arg(now);

-- name: CreateAPIToken :exec
INSERT INTO api_tokens (id, user_id, name, token_hash, created_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(name), sqlc.arg(token_hash), sqlc.arg(created_at));

-- name: APITokenByHash :one
SELECT * FROM api_tokens WHERE token_hash = sqlc.arg(token_hash);

-- name: CreateProject :exec
INSERT INTO projects (id, user_id, name, type, sandbox_id, status, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(name), sqlc.arg(type), sqlc.arg(sandbox_id), sqlc.arg(status), sqlc.arg(created_at), sqlc.arg(updated_at));

-- name: ProjectByID :one
SELECT * FROM projects WHERE id = sqlc.arg(id);

-- name: ProjectsByUser :many
SELECT * FROM projects WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at DESC, id DESC;

-- name: SetProjectSandbox :execrows
UPDATE projects SET sandbox_id = sqlc.arg(sandbox_id), updated_at = sqlc.arg(updated_at)
WHERE id = sqlc.arg(id);

-- name: SetProjectStatus :execrows
UPDATE projects SET status = sqlc.arg(status), updated_at = sqlc.arg(updated_at)
WHERE id = sqlc.arg(id);

-- name: DeleteProject :execrows
DELETE FROM projects WHERE id = sqlc.arg(id);

-- name: RenameProject :execrows
UPDATE projects SET name = sqlc.arg(name), updated_at = sqlc.arg(updated_at)
WHERE id = sqlc.arg(id);

-- name: CreateRun :exec
INSERT INTO runs (id, project_id, user_id, prompt, status, error_code, error_message, created_at, finished_at)
VALUES (sqlc.arg(id), sqlc.arg(project_id), sqlc.arg(user_id), sqlc.arg(prompt), sqlc.arg(status), sqlc.arg(error_code), sqlc.arg(error_message), sqlc.arg(created_at), sqlc.arg(finished_at));

-- name: RunByID :one
SELECT * FROM runs WHERE id = sqlc.arg(id);

-- name: FinishRun :execrows
UPDATE runs
SET status = sqlc.arg(status), error_code = sqlc.arg(error_code), error_message = sqlc.arg(error_message), finished_at = sqlc.arg(finished_at)
WHERE id = sqlc.arg(id) AND status = 'running';

-- name: RunningRuns :many
SELECT * FROM runs WHERE status = 'running'
ORDER BY created_at, id;

-- name: RunsByProject :many
SELECT * FROM runs WHERE project_id = sqlc.arg(project_id)
ORDER BY created_at, id;

-- name: ActiveRunForProject :one
SELECT * FROM runs WHERE project_id = sqlc.arg(project_id) AND status = 'running'
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: AppendEvent :exec
INSERT INTO events (run_id, seq, type, data, created_at)
VALUES (sqlc.arg(run_id), sqlc.arg(seq), sqlc.arg(type), sqlc.arg(data), sqlc.arg(created_at));

-- name: EventsAfter :many
SELECT * FROM events WHERE run_id = sqlc.arg(run_id) AND seq > sqlc.arg(after_seq)
ORDER BY seq
LIMIT CAST(sqlc.arg(max_events) AS BIGINT);

-- name: LastEventSeq :one
SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS last_seq FROM events WHERE run_id = sqlc.arg(run_id);

-- ---------------------------------------------------------------------------
-- Sandboxes (lifecycle: internal/sandbox/lifecycle, internal/store/sandboxes.go)
-- ---------------------------------------------------------------------------

-- name: CreateSandbox :exec
INSERT INTO sandboxes (id, project_id, user_id, engine, state, processes, created_at, last_active_at, stopped_at)
VALUES (sqlc.arg(id), sqlc.arg(project_id), sqlc.arg(user_id), sqlc.arg(engine), sqlc.arg(state), sqlc.arg(processes), sqlc.arg(created_at), sqlc.arg(last_active_at), sqlc.arg(stopped_at));

-- name: SandboxByID :one
SELECT * FROM sandboxes WHERE id = sqlc.arg(id);

-- name: SandboxesByUser :many
SELECT * FROM sandboxes WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at DESC, id DESC;

-- name: AllSandboxes :many
SELECT * FROM sandboxes ORDER BY created_at, id;

-- name: SetSandboxState :execrows
UPDATE sandboxes SET state = sqlc.arg(state), stopped_at = sqlc.arg(stopped_at), last_active_at = sqlc.arg(last_active_at)
WHERE id = sqlc.arg(id);

-- name: TouchSandbox :execrows
UPDATE sandboxes SET last_active_at = sqlc.arg(last_active_at)
WHERE id = sqlc.arg(id) AND last_active_at < sqlc.arg(last_active_at);

-- name: SetSandboxProcesses :execrows
UPDATE sandboxes SET processes = sqlc.arg(processes) WHERE id = sqlc.arg(id);

-- name: DeleteSandbox :execrows
DELETE FROM sandboxes WHERE id = sqlc.arg(id);

-- ---------------------------------------------------------------------------
-- Security (issue 6: internal/store/security.go, shares.go, audit.go)
-- ---------------------------------------------------------------------------

-- name: ListUsers :many
SELECT * FROM users ORDER BY created_at, id;

-- name: SetUserDisabled :execrows
UPDATE users SET disabled_at = sqlc.narg(disabled_at) WHERE id = sqlc.arg(id);

-- name: DeleteUserSessions :exec
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id);

-- name: APITokensByUser :many
SELECT * FROM api_tokens WHERE user_id = sqlc.arg(user_id) ORDER BY created_at, id;

-- name: DeleteAPIToken :execrows
DELETE FROM api_tokens WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: ProjectBySandboxID :one
SELECT * FROM projects WHERE sandbox_id = sqlc.arg(sandbox_id) AND sandbox_id <> ''
ORDER BY created_at
LIMIT 1;

-- name: SetProjectPublicPreview :execrows
UPDATE projects SET public_preview = sqlc.arg(public_preview), updated_at = sqlc.arg(updated_at)
WHERE id = sqlc.arg(id);

-- name: CountRunningRunsByUser :one
SELECT CAST(count(*) AS BIGINT) AS running FROM runs WHERE user_id = sqlc.arg(user_id) AND status = 'running';

-- name: ProjectCountsByUser :many
SELECT user_id, CAST(count(*) AS BIGINT) AS projects FROM projects GROUP BY user_id;

-- name: RunCountsByUser :many
SELECT user_id, CAST(count(*) AS BIGINT) AS runs FROM runs GROUP BY user_id;

-- name: CreateShare :exec
INSERT INTO shares (id, project_id, user_id, token_hash, created_at, expires_at, revoked_at)
VALUES (sqlc.arg(id), sqlc.arg(project_id), sqlc.arg(user_id), sqlc.arg(token_hash), sqlc.arg(created_at), sqlc.arg(expires_at), sqlc.arg(revoked_at));

-- name: ShareByTokenHash :one
SELECT * FROM shares WHERE token_hash = sqlc.arg(token_hash);

-- name: ShareByID :one
SELECT * FROM shares WHERE id = sqlc.arg(id);

-- name: SharesByProject :many
SELECT * FROM shares WHERE project_id = sqlc.arg(project_id) ORDER BY created_at DESC, id DESC;

-- name: RevokeShare :execrows
UPDATE shares SET revoked_at = sqlc.arg(revoked_at)
WHERE id = sqlc.arg(id) AND project_id = sqlc.arg(project_id) AND revoked_at IS NULL;

-- name: CreateInvite :exec
INSERT INTO invites (token_hash, email, created_by, created_at, expires_at, used_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(email), sqlc.arg(created_by), sqlc.arg(created_at), sqlc.arg(expires_at), sqlc.arg(used_at));

-- name: UseInvite :execrows
UPDATE invites SET used_at = sqlc.arg(used_at)
WHERE token_hash = sqlc.arg(token_hash) AND used_at IS NULL AND expires_at > sqlc.arg(used_at);

-- name: InviteByTokenHash :one
SELECT * FROM invites WHERE token_hash = sqlc.arg(token_hash);

-- name: AppendAuditEvent :exec
INSERT INTO audit_events (id, created_at, event, actor_id, subject, remote_addr, detail)
VALUES (sqlc.arg(id), sqlc.arg(created_at), sqlc.arg(event), sqlc.arg(actor_id), sqlc.arg(subject), sqlc.arg(remote_addr), sqlc.arg(detail));

-- name: AuditEvents :many
SELECT * FROM audit_events ORDER BY created_at DESC, id DESC
LIMIT CAST(sqlc.arg(max_events) AS BIGINT);

-- ---------------------------------------------------------------------------
-- Agent: conversation and model usage (issue 4, migrations 00004_agent.sql).
-- ---------------------------------------------------------------------------

-- name: ConversationByProject :many
SELECT * FROM conversation_messages WHERE project_id = sqlc.arg(project_id) ORDER BY seq;

-- name: LastConversationSeq :one
SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM conversation_messages WHERE project_id = sqlc.arg(project_id);

-- name: AppendConversationMessage :exec
INSERT INTO conversation_messages (project_id, seq, run_id, role, content, created_at)
VALUES (sqlc.arg(project_id), sqlc.arg(seq), sqlc.arg(run_id), sqlc.arg(role), sqlc.arg(content), sqlc.arg(created_at));

-- name: AddModelUsage :exec
INSERT INTO model_usage (id, run_id, project_id, user_id, model, kind, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_micros, created_at)
VALUES (sqlc.arg(id), sqlc.arg(run_id), sqlc.arg(project_id), sqlc.arg(user_id), sqlc.arg(model), sqlc.arg(kind), sqlc.arg(input_tokens), sqlc.arg(output_tokens), sqlc.arg(cache_creation_tokens), sqlc.arg(cache_read_tokens), sqlc.arg(cost_micros), sqlc.arg(created_at));

-- name: UsageByRun :many
SELECT kind,
       CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens,
       CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens,
       CAST(COALESCE(SUM(cache_creation_tokens), 0) AS BIGINT) AS cache_creation_tokens,
       CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens,
       CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros
FROM model_usage WHERE run_id = sqlc.arg(run_id) GROUP BY kind ORDER BY kind;

-- name: UsageByProject :many
SELECT kind,
       CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens,
       CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens,
       CAST(COALESCE(SUM(cache_creation_tokens), 0) AS BIGINT) AS cache_creation_tokens,
       CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens,
       CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros
FROM model_usage WHERE project_id = sqlc.arg(project_id) GROUP BY kind ORDER BY kind;

-- name: UserCostSince :one
SELECT CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros
FROM model_usage WHERE user_id = sqlc.arg(user_id) AND created_at >= sqlc.arg(since);

-- name: SetProjectModel :execrows
UPDATE projects SET model = sqlc.arg(model) WHERE id = sqlc.arg(id);
