package toolbox

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serveMain is `qv-toolbox serve --listen-fd N`, the daemon inside the
// sandbox.
func serveMain(args []string) int {
	// First, before anything else can be inspected: the sandboxed code runs
	// as the same uid, so without this it could ptrace the toolbox or read
	// its /proc/PID/{environ,fd,mem}.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "qv-toolbox: prctl(PR_SET_DUMPABLE): %v\n", err)
		return 1
	}
	// Commands should create files like on any dev machine, whatever umask
	// the launcher had.
	unix.Umask(0o022)
	// The time package opens zone files without O_CLOEXEC. Load the zone
	// now, before any command can be forked, so that such an fd cannot leak
	// into one.
	_, _ = time.Now().Zone()

	fs := flag.NewFlagSet("qv-toolbox serve", flag.ContinueOnError)
	listenFD := fs.Int("listen-fd", -1, "inherited listening Unix socket")
	dir := fs.String("dir", WorkspaceDir, "working directory of commands")
	egressFD := fs.Int("egress-fd", -1, "inherited Unix socket to the host's egress proxy (see egress.go)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listenFD < 3 {
		fmt.Fprintln(os.Stderr, "qv-toolbox serve: --listen-fd must name an inherited fd >= 3")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// Whatever else was inherited must not reach the commands we start: Go
	// only passes 0-2 explicitly and relies on close-on-exec for the rest.
	// The listener is dup'ed below, so it may be marked as well.
	if err := markInheritedCloseOnExec(); err != nil {
		log.Error("mark inherited fds close-on-exec", "err", err)
		return 1
	}
	f := os.NewFile(uintptr(*listenFD), "toolbox-listener")
	if f == nil {
		log.Error("invalid listen fd", "fd", *listenFD)
		return 1
	}
	ln, err := net.FileListener(f)
	// FileListener dup'ed the fd; close the original either way.
	f.Close()
	if err != nil {
		log.Error("use inherited listener", "fd", *listenFD, "err", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	srv := NewServer(ServerConfig{Dir: *dir, Env: Env(), Logger: log})
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	if *egressFD >= 3 {
		egressDone := make(chan struct{})
		defer func() { stop(); <-egressDone }()
		go func() {
			defer close(egressDone)
			if err := serveEgress(ctx, *egressFD, log); err != nil {
				log.Error("egress proxy bridge", "err", err)
			}
		}()
	}
	log.Info("toolbox serving", "pid", os.Getpid())

	code := 0
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
			code = 1
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	srv.Close()
	return code
}

func markInheritedCloseOnExec() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC; walk /proc instead.
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close_range: %v; list /proc/self/fd: %w", err, rerr)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

// serveStaticMain is `qv-serve --port P --dir D`: the dev server of the
// "website" project type.
func serveStaticMain(args []string) int {
	fs := flag.NewFlagSet("qv-serve", flag.ContinueOnError)
	port := fs.Int("port", 3000, "port on 127.0.0.1")
	dir := fs.String("dir", ".", "directory to serve")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Handler: StaticHandler(*dir), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("qv-serve: serving %s on http://127.0.0.1:%d\n", *dir, *port)
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		return 0
	case err := <-errc:
		log.Error("serve", "err", err)
		return 1
	}
}

// StaticHandler serves dir, always from disk: the files are being edited
// while the preview is open, so neither the browser nor a conditional
// request may get a stale copy.
func StaticHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Modification times have one-second resolution in HTTP; an edit
		// within the same second would otherwise answer 304.
		for _, h := range []string{"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since"} {
			r.Header.Del(h)
		}
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}
