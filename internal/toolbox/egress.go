package toolbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
)

// EgressProxyAddr is where commands find the HTTP(S) proxy inside the
// sandbox; the proxy variables of Env point there.
const EgressProxyAddr = "127.0.0.1:3128"

// proxyEnv points every common tool at the egress proxy.
func proxyEnv() []string {
	u := "http://" + EgressProxyAddr
	return []string{
		"HTTP_PROXY=" + u, "HTTPS_PROXY=" + u, "http_proxy=" + u, "https_proxy=" + u,
		"NPM_CONFIG_PROXY=" + u, "NPM_CONFIG_HTTPS_PROXY=" + u,
		"npm_config_proxy=" + u, "npm_config_https_proxy=" + u,
		"YARN_HTTP_PROXY=" + u, "YARN_HTTPS_PROXY=" + u,
		"PIP_PROXY=" + u,
		"GIT_HTTP_PROXY=" + u,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
	}
}

// egressBridge listens on EgressProxyAddr inside the sandbox and hands
// every connection to the host: it creates a socket pair, sends one end
// over ctrl (SCM_RIGHTS) and copies between the other end and the client.
// The sandbox has no route anywhere; this is its only way out, and the host
// decides what passes.
type egressBridge struct {
	ctrl *net.UnixConn
	log  *slog.Logger
	mu   sync.Mutex // one message at a time on ctrl
}

// serveEgress runs the bridge until ctx ends or the listener fails.
func serveEgress(ctx context.Context, fd int, log *slog.Logger) error {
	f := os.NewFile(uintptr(fd), "egress")
	if f == nil {
		return fmt.Errorf("invalid egress fd %d", fd)
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("egress fd: %w", err)
	}
	ctrl, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return errors.New("egress fd is not a Unix socket")
	}
	defer ctrl.Close()
	ln, err := net.Listen("tcp", EgressProxyAddr)
	if err != nil {
		return fmt.Errorf("egress listen: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	b := &egressBridge{ctrl: ctrl, log: log}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("egress accept: %w", err)
		}
		wg.Go(func() { b.forward(conn) })
	}
}

func (b *egressBridge) forward(client net.Conn) {
	defer client.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.log.Warn("egress socketpair", "err", err)
		return
	}
	b.mu.Lock()
	_, _, err = b.ctrl.WriteMsgUnix([]byte{0}, syscall.UnixRights(fds[1]), nil)
	b.mu.Unlock()
	syscall.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "egress-conn")
	if err != nil {
		f.Close()
		b.log.Warn("egress: pass connection to host", "err", err)
		return
	}
	up, err := net.FileConn(f)
	f.Close()
	if err != nil {
		b.log.Warn("egress conn", "err", err)
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, client)
		_ = up.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(client, up)
	// The host is done; so is the client, which also ends the copy above.
	client.Close()
	<-done
}
