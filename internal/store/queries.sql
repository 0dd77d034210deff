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
