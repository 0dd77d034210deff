package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/quickvibe/quickvibe/internal/store/pgdb"
	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// OpenPostgres connects to the PostgreSQL database at url (a postgres:// URL
// or a key=value connection string, as pgx accepts) and brings its schema up
// to date. Tables go into the first schema of the connection's search_path.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(25)
	db.SetMaxIdleConns(5)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	lockOpt, err := postgresMigrationLock(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", lockOpt); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Store{
		db:        db,
		engine:    EnginePostgres,
		q:         pgQuerier{pgdb.New(db)},
		txQuerier: func(tx *sql.Tx) sqlitedb.Querier { return pgQuerier{pgdb.New(tx)} },
		lockUsers: lockPostgresUsers,
		now:       time.Now,
	}, nil
}

// lockPostgresUsers takes a lock on users that conflicts with itself and with
// the ROW EXCLUSIVE lock every INSERT takes, but not with plain reads. Held
// until the transaction ends.
func lockPostgresUsers(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// postgresConstraint reports whether err is a PostgreSQL unique or
// foreign-key violation.
func postgresConstraint(err error) (kind constraintKind, detail string, ok bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return 0, "", false
	}
	switch pe.Code {
	case "23505": // unique_violation
		return uniqueViolation, pe.ConstraintName, true
	case "23503": // foreign_key_violation
		return foreignKeyViolation, pe.ConstraintName, true
	}
	return 0, "", false
}

// pgQuerier makes the generated Postgres queries satisfy sqlitedb.Querier.
// sqlc generates the same structs for both engines, so each method is a
// plain type conversion; if the schemas ever drift apart, this stops
// compiling. Methods whose signatures use no generated types are promoted
// from pgdb.Queries unchanged.
type pgQuerier struct {
	*pgdb.Queries
}

var _ sqlitedb.Querier = pgQuerier{}

func (q pgQuerier) CreateUser(ctx context.Context, arg sqlitedb.CreateUserParams) error {
	return q.Queries.CreateUser(ctx, pgdb.CreateUserParams(arg))
}

func (q pgQuerier) UserByID(ctx context.Context, id string) (sqlitedb.User, error) {
	r, err := q.Queries.UserByID(ctx, id)
	return sqlitedb.User(r), err
}

func (q pgQuerier) UserByEmailKey(ctx context.Context, emailKey string) (sqlitedb.User, error) {
	r, err := q.Queries.UserByEmailKey(ctx, emailKey)
	return sqlitedb.User(r), err
}

func (q pgQuerier) CreateSession(ctx context.Context, arg sqlitedb.CreateSessionParams) error {
	return q.Queries.CreateSession(ctx, pgdb.CreateSessionParams(arg))
}

func (q pgQuerier) SessionByTokenHash(ctx context.Context, tokenHash string) (sqlitedb.Session, error) {
	r, err := q.Queries.SessionByTokenHash(ctx, tokenHash)
	return sqlitedb.Session(r), err
}

func (q pgQuerier) CreateAPIToken(ctx context.Context, arg sqlitedb.CreateAPITokenParams) error {
	return q.Queries.CreateAPIToken(ctx, pgdb.CreateAPITokenParams(arg))
}

func (q pgQuerier) APITokenByHash(ctx context.Context, tokenHash string) (sqlitedb.ApiToken, error) {
	r, err := q.Queries.APITokenByHash(ctx, tokenHash)
	return sqlitedb.ApiToken(r), err
}

func (q pgQuerier) CreateProject(ctx context.Context, arg sqlitedb.CreateProjectParams) error {
	return q.Queries.CreateProject(ctx, pgdb.CreateProjectParams(arg))
}

func (q pgQuerier) ProjectByID(ctx context.Context, id string) (sqlitedb.Project, error) {
	r, err := q.Queries.ProjectByID(ctx, id)
	return sqlitedb.Project(r), err
}

func (q pgQuerier) ProjectsByUser(ctx context.Context, userID string) ([]sqlitedb.Project, error) {
	rs, err := q.Queries.ProjectsByUser(ctx, userID)
	return convertAll(rs, err, func(r pgdb.Project) sqlitedb.Project { return sqlitedb.Project(r) })
}

func (q pgQuerier) SetProjectSandbox(ctx context.Context, arg sqlitedb.SetProjectSandboxParams) (int64, error) {
	return q.Queries.SetProjectSandbox(ctx, pgdb.SetProjectSandboxParams(arg))
}

func (q pgQuerier) SetProjectStatus(ctx context.Context, arg sqlitedb.SetProjectStatusParams) (int64, error) {
	return q.Queries.SetProjectStatus(ctx, pgdb.SetProjectStatusParams(arg))
}

func (q pgQuerier) RenameProject(ctx context.Context, arg sqlitedb.RenameProjectParams) (int64, error) {
	return q.Queries.RenameProject(ctx, pgdb.RenameProjectParams(arg))
}

func (q pgQuerier) RunsByProject(ctx context.Context, projectID string) ([]sqlitedb.Run, error) {
	rs, err := q.Queries.RunsByProject(ctx, projectID)
	return convertAll(rs, err, func(r pgdb.Run) sqlitedb.Run { return sqlitedb.Run(r) })
}

func (q pgQuerier) CreateRun(ctx context.Context, arg sqlitedb.CreateRunParams) error {
	return q.Queries.CreateRun(ctx, pgdb.CreateRunParams(arg))
}

func (q pgQuerier) RunByID(ctx context.Context, id string) (sqlitedb.Run, error) {
	r, err := q.Queries.RunByID(ctx, id)
	return sqlitedb.Run(r), err
}

func (q pgQuerier) FinishRun(ctx context.Context, arg sqlitedb.FinishRunParams) (int64, error) {
	return q.Queries.FinishRun(ctx, pgdb.FinishRunParams(arg))
}

func (q pgQuerier) RunningRuns(ctx context.Context) ([]sqlitedb.Run, error) {
	rs, err := q.Queries.RunningRuns(ctx)
	return convertAll(rs, err, func(r pgdb.Run) sqlitedb.Run { return sqlitedb.Run(r) })
}

func (q pgQuerier) ActiveRunForProject(ctx context.Context, projectID string) (sqlitedb.Run, error) {
	r, err := q.Queries.ActiveRunForProject(ctx, projectID)
	return sqlitedb.Run(r), err
}

func (q pgQuerier) AppendEvent(ctx context.Context, arg sqlitedb.AppendEventParams) error {
	return q.Queries.AppendEvent(ctx, pgdb.AppendEventParams(arg))
}

func (q pgQuerier) EventsAfter(ctx context.Context, arg sqlitedb.EventsAfterParams) ([]sqlitedb.Event, error) {
	rs, err := q.Queries.EventsAfter(ctx, pgdb.EventsAfterParams(arg))
	return convertAll(rs, err, func(r pgdb.Event) sqlitedb.Event { return sqlitedb.Event(r) })
}

func convertAll[From, To any](rows []From, err error, convert func(From) To) ([]To, error) {
	if err != nil {
		return nil, err
	}
	out := make([]To, len(rows))
	for i, r := range rows {
		out[i] = convert(r)
	}
	return out, nil
}
