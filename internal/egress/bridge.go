package egress

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// ServeSandbox serves the proxy to one sandbox until ctrl is closed (by
// the caller, or because the sandbox is gone). Over ctrl the sandbox sends
// one socket per connection (SCM_RIGHTS); each is served as a proxy client
// connection. ctrl is a connected Unix socket pair end, so the sandbox never
// names a host path.
func (p *Proxy) ServeSandbox(sandbox string, ctrl *net.UnixConn) error {
	ln := &fdListener{ctrl: ctrl, sem: make(chan struct{}, p.maxConns), log: p.log.With("sandbox", sandbox)}
	srv := &http.Server{
		Handler:           p.Handler(sandbox),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	err := srv.Serve(ln)
	// Tunnels are hijacked and not tracked by the server: they end when
	// either side closes, which for the sandbox side happens when it dies.
	_ = srv.Close()
	if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// fdListener accepts the connections that arrive as fds over ctrl.
type fdListener struct {
	ctrl *net.UnixConn
	sem  chan struct{}
	log  *slog.Logger

	mu      sync.Mutex
	pending []net.Conn
}

// maxFDsPerMessage bounds how many fds one message may carry; any beyond
// are closed by the kernel (MSG_CTRUNC).
const maxFDsPerMessage = 4

func (l *fdListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if len(l.pending) > 0 {
			c := l.pending[0]
			l.pending = l.pending[1:]
			l.mu.Unlock()
			return c, nil
		}
		l.mu.Unlock()

		buf := make([]byte, 16)
		oob := make([]byte, syscall.CmsgSpace(4*maxFDsPerMessage))
		n, oobn, _, _, err := l.ctrl.ReadMsgUnix(buf, oob)
		if err != nil || (n == 0 && oobn == 0) {
			// EOF: the sandbox is gone, or we closed ctrl.
			return nil, net.ErrClosed
		}
		if oobn == 0 {
			continue
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				if c := l.wrap(fd); c != nil {
					l.mu.Lock()
					l.pending = append(l.pending, c)
					l.mu.Unlock()
				}
			}
		}
	}
}

// wrap turns a received fd into a connection, or closes it: it must be a
// stream socket, and the sandbox must be under its connection limit.
func (l *fdListener) wrap(fd int) net.Conn {
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "egress-conn")
	defer f.Close()
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil || typ != syscall.SOCK_STREAM {
		l.log.Warn("egress: sandbox sent something that is not a stream socket")
		return nil
	}
	select {
	case l.sem <- struct{}{}:
	default:
		l.log.Warn("egress: too many concurrent connections from the sandbox", "limit", cap(l.sem))
		return nil
	}
	c, err := net.FileConn(f)
	if err != nil {
		<-l.sem
		l.log.Warn("egress: use connection", "err", err)
		return nil
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}
}

func (l *fdListener) Close() error   { return l.ctrl.Close() }
func (l *fdListener) Addr() net.Addr { return l.ctrl.LocalAddr() }

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite keeps tunnels half-closable.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("egress: connection cannot half-close")
}
