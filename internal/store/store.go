// Package store keeps QuickVibe's users, sessions, API tokens, projects, runs
// and run events in SQLite or PostgreSQL.
//
// Both engines run the same queries (queries.sql), which sqlc compiles into
// the sqlitedb and pgdb packages; the Store works against sqlitedb.Querier and
// wraps pgdb so it satisfies that interface (see postgres.go). Migrations are
// embedded per dialect and applied by Open*.
//
// Times are stored as milliseconds since the Unix epoch and come back in UTC;
// anything finer than a millisecond is dropped.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// Engine names returned by Store.Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Store is the database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	engine string
	q      sqlitedb.Querier
	// txQuerier binds the queries to a transaction.
	txQuerier func(*sql.Tx) sqlitedb.Querier
	// lockUsers, if set, runs first in CreateFirstUser's transaction and
	// must block every other insert into users until it commits. SQLite
	// leaves it nil: its write transactions already exclude each other.
	lockUsers func(context.Context, *sql.Tx) error
	now       func() time.Time
}

// Open opens the database named by dsn: a postgres:// or postgresql:// URL
// opens PostgreSQL, anything else is taken as a SQLite file path.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return OpenPostgres(ctx, dsn)
	}
	return OpenSQLite(ctx, dsn)
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// Engine returns EngineSQLite or EnginePostgres.
func (s *Store) Engine() string {
	return s.engine
}

// inTx runs fn in a transaction and commits it if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx, q sqlitedb.Querier) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx, s.txQuerier(tx)); err != nil {
		// ErrTxDone: the transaction already ended, e.g. its context was cancelled.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	return tx.Commit()
}

// Times are stored as Unix milliseconds. A zero time.Time survives the round
// trip; for nullable columns it is stored as NULL instead.

func toMillis(t time.Time) int64 {
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}

func toNullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}

// wrap adds context to err, turning a missing row and constraint violations
// into the package's sentinel errors. Driver error values do not escape:
// for those only their text is kept.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, classify(err))...)
}

// classify maps err to ErrNotFound or ErrConflict where it can.
// A foreign-key violation means the referenced owner does not exist, so it
// is reported as ErrNotFound.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	}
	if kind, detail, ok := sqliteConstraint(err); ok {
		return constraintError(kind, detail, err)
	}
	if kind, detail, ok := postgresConstraint(err); ok {
		return constraintError(kind, detail, err)
	}
	return err
}

type constraintKind int

const (
	uniqueViolation constraintKind = iota + 1
	foreignKeyViolation
)

func constraintError(kind constraintKind, detail string, err error) error {
	switch kind {
	case uniqueViolation:
		return fmt.Errorf("%w (%s)", ErrConflict, detail)
	case foreignKeyViolation:
		return fmt.Errorf("%w: referenced row (%s)", ErrNotFound, detail)
	}
	return err
}
