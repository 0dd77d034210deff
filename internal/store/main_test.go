package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/quickvibe/quickvibe/internal/store"
)

// The store tests run against SQLite and PostgreSQL. For PostgreSQL, TestMain
// starts a throwaway server from the locally installed binaries, or uses the
// server at TEST_POSTGRES_DSN if that is set. Each test gets its own schema.

var (
	// pgDSN is the DSN of the test server's database.
	pgDSN string
	// pgAdmin is a connection to it for creating and dropping schemas.
	pgAdmin *sql.DB
	// schemaSeq numbers the per-test schemas.
	schemaSeq atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	pgDSN = os.Getenv("TEST_POSTGRES_DSN")
	if pgDSN == "" {
		srv, err := startPostgres()
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: store tests need PostgreSQL: %v\n", err)
			return 1
		}
		defer srv.stop()
		pgDSN = srv.dsn
	}
	db, err := sql.Open("pgx", pgDSN)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: connect to PostgreSQL: %v\n", err)
		return 1
	}
	defer db.Close()
	pgAdmin = db
	return m.Run()
}

// pgServer is a PostgreSQL server in a temporary directory.
type pgServer struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	dsn  string
}

const installHint = "install PostgreSQL (Debian: apt-get install postgresql-15), " +
	"or point TEST_POSTGRES_DSN at a server to use instead"

// pgBinDir returns the directory with initdb and postgres in it.
func pgBinDir() (string, error) {
	dirs := []string{"/usr/lib/postgresql/15/bin"}
	more, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = append(dirs, more...)
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("the PostgreSQL server binaries (initdb, postgres) are not in /usr/lib/postgresql/*/bin or on PATH: %s", installHint)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startPostgres initialises and starts a server listening on a free loopback
// port. initdb refuses to run as root, so when the tests run as root the
// server runs as the postgres system user.
func startPostgres() (_ *pgServer, err error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, but there is no postgres user to run the server as (%v): %s", err, installHint)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	dir, err := os.MkdirTemp("", "quickvibe-store-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir // the server user may not be able to read the test's working directory
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}

	data := filepath.Join(dir, "data")
	initdb := command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	// A port found free may be taken before the server binds it; try again then.
	for attempt := 0; ; attempt++ {
		srv, err := startServer(command, dir, data)
		if err == nil || attempt == 2 {
			return srv, err
		}
	}
}

func startServer(command func(string, ...string) *exec.Cmd, dir, data string) (*pgServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := command("postgres", "-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200",
		// Durability is pointless for a throwaway cluster.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	srv := &pgServer{
		dir:  dir,
		cmd:  cmd,
		done: make(chan struct{}),
		dsn:  fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
	}
	go func() {
		cmd.Wait()
		close(srv.done)
	}()

	db, err := sql.Open("pgx", srv.dsn)
	if err != nil {
		srv.kill()
		return nil, err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return srv, nil
		}
		select {
		case <-srv.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited: %s\n%s", cmd.ProcessState, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			srv.kill()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v\n%s", err, log)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down and deletes its directory.
func (s *pgServer) stop() {
	s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	os.RemoveAll(s.dir)
}

func (s *pgServer) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// pgSchemaDSN creates an empty schema and returns a DSN whose search_path
// points at it. The schema is dropped when the test ends.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	schema := fmt.Sprintf("test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if _, err := pgAdmin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pgAdmin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return withSearchPath(t, pgDSN, schema)
}

// withSearchPath adds search_path to a URL or key=value DSN.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse TEST_POSTGRES_DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// engines are the databases every store test runs against.
var engines = []struct {
	name string
	open func(t *testing.T) *store.Store
}{
	{store.EngineSQLite, func(t *testing.T) *store.Store {
		return openStore(t, store.OpenSQLite, filepath.Join(t.TempDir(), "quickvibe.db"))
	}},
	{store.EnginePostgres, func(t *testing.T) *store.Store {
		return openStore(t, store.OpenPostgres, pgSchemaDSN(t))
	}},
}

func openStore(t *testing.T, open func(context.Context, string) (*store.Store, error), dsn string) *store.Store {
	t.Helper()
	s, err := open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// forEachEngine runs test in parallel subtests, one per engine, each with a
// fresh, empty store.
func forEachEngine(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e.open(t))
		})
	}
}

// TestPostgresServer logs which server the PostgreSQL tests ran against.
func TestPostgresServer(t *testing.T) {
	var version string
	if err := pgAdmin.QueryRowContext(t.Context(), "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("server_version: %v", err)
	}
	t.Logf("PostgreSQL %s", version)
}
