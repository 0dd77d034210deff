package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL migrations per dialect. They
// are also the schemas sqlc reads (sqlc.yaml).
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrate applies the pending migrations in dir.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// postgresMigrationLock returns a goose option that holds a session-level
// advisory lock while migrating, so two processes starting together do not
// both migrate. The lock ID is derived from the database and schema, so
// instances using different schemas do not wait for each other.
func postgresMigrationLock(ctx context.Context, db *sql.DB) (goose.ProviderOption, error) {
	var database, schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_database(), current_schema()").Scan(&database, &schema); err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	if !schema.Valid {
		return nil, fmt.Errorf("migration lock: no schema on the search_path")
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockID("quickvibe-migrate", database.String, schema.String)),
		lock.WithLockTimeout(1, 300), // retry every second for 5 minutes
	)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return goose.WithSessionLocker(locker), nil
}

// lockID hashes parts into a Postgres advisory lock key.
func lockID(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}
