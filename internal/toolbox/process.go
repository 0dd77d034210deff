package toolbox

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Restart backoff of supervised processes: the delay doubles after every
// quick crash and starts over once the process ran for backoffReset.
const (
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = 30 * time.Second
)

// process is one named background process. With restart set it is
// supervised: whenever it exits it is started again after a backoff, until
// it is stopped or replaced.
type process struct {
	name    string
	command string
	restart bool
	lines   *lineLog
	tail    *tailBuffer
	quit    chan struct{} // closed by stop
	done    chan struct{} // closed when no run is left and none will follow

	mu       sync.Mutex
	cur      *group // the running group, nil between runs
	running  bool
	exitCode int
	restarts int
	quitOnce sync.Once
}

// spawn starts one run of the process, unless it was stopped meanwhile.
func (p *process) spawn(dir string, env []string) (*group, error) {
	out := io.MultiWriter(p.tail, &lineWriter{log: p.lines, stream: StreamStdout})
	errw := io.MultiWriter(p.tail, &lineWriter{log: p.lines, stream: StreamStderr})
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
		return nil, errProcessStopped
	default:
	}
	// A supervised process (the dev server) keeps stdout and stderr apart
	// for its log; two pipes cannot keep their relative order exactly, so
	// plain background processes keep one pipe, and their order, instead.
	if !p.restart {
		errw = nil
	}
	g, err := startGroupSplit(dir, processEnv(p.command, env), directCommand(p.command, env), out, errw)
	if err != nil {
		return nil, err
	}
	p.cur, p.running = g, true
	return g, nil
}

var errProcessStopped = fmt.Errorf("process was stopped")

// stop ends the process for good: no restart follows.
func (p *process) stop() {
	p.quitOnce.Do(func() { close(p.quit) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		p.cur.kill()
	}
}

// supervise waits for the run g and restarts the process while it is
// supervised and not stopped. It closes p.done when it returns.
func (p *process) supervise(g *group, dir string, env []string, log *slog.Logger) {
	defer close(p.done)
	backoff := backoffMin
	for {
		started := time.Now()
		code := exitCode(g.wait())
		p.mu.Lock()
		p.cur, p.running, p.exitCode = nil, false, code
		p.mu.Unlock()
		log.Info("process exited", "name", p.name, "exitCode", code)
		select {
		case <-p.quit:
			return
		default:
		}
		if !p.restart {
			p.lines.append(StreamSystem, fmt.Sprintf("exited with code %d", code))
			return
		}
		if time.Since(started) >= backoffReset {
			backoff = backoffMin
		}
		for {
			p.lines.append(StreamSystem, fmt.Sprintf("exited with code %d; restarting in %s", code, backoff))
			timer := time.NewTimer(backoff)
			select {
			case <-p.quit:
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(backoff*2, backoffMax)
			var err error
			g, err = p.spawn(dir, env)
			if err == errProcessStopped {
				return
			}
			if err == nil {
				break
			}
			log.Warn("restart process", "name", p.name, "err", err)
			code = -1
		}
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
		p.lines.append(StreamSystem, "restarted")
		log.Info("process restarted", "name", p.name, "pid", g.cmd.Process.Pid)
	}
}

func (p *process) status() processResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := processResponse{Name: p.name, Running: p.running, Restart: p.restart, Restarts: p.restarts}
	if !p.running {
		resp.ExitCode = p.exitCode
	}
	resp.OutputTail = p.tail.String()
	return resp
}
