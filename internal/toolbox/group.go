package toolbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// drainTimeout bounds how long output is still collected after a process
// group is gone: a child that escaped the group (setsid) may keep the pipe
// open forever.
const drainTimeout = 2 * time.Second

// group is a shell command running in its own process group with its
// stdout and stderr combined into one pipe.
//
// A group is one unit: when its leader exits, whatever is left of the group
// is killed too, so a command cannot leave stray children behind (long
// running servers belong in background processes, which get their own
// group).
type group struct {
	cmd *exec.Cmd
	// outs are the read ends of the output pipes (one when combined).
	outs     []*os.File
	copyDone chan struct{}

	mu sync.Mutex
	// exited is set once the leader has exited. From then on its pid, which
	// is also the group id, may be reused, so the group must not be
	// signalled any more.
	exited bool
}

// startGroup starts `sh -c command` in dir with exactly env, stdin from
// /dev/null, and copies its combined output to out until wait returns.
func startGroup(dir string, env []string, command string, out io.Writer) (*group, error) {
	return startGroupSplit(dir, env, command, out, nil)
}

// startGroupSplit is startGroup with stdout and stderr kept apart; a nil
// stderr combines both into stdout. Writers that have a Flush method are
// flushed once their stream has ended.
func startGroupSplit(dir string, env []string, command string, stdout, stderr io.Writer) (*group, error) {
	writers := []io.Writer{stdout}
	if stderr != nil {
		writers = append(writers, stderr)
	}
	var reads, writes []*os.File
	closeAll := func() {
		for _, f := range append(reads, writes...) {
			f.Close()
		}
	}
	for range writers {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("create output pipe: %w", err)
		}
		reads, writes = append(reads, r), append(writes, w)
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = writes[0]
	cmd.Stderr = writes[len(writes)-1]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start command: %w", err)
	}
	// Only the child may hold the write ends, or the readers never see EOF.
	for _, w := range writes {
		w.Close()
	}
	g := &group{cmd: cmd, outs: reads, copyDone: make(chan struct{})}
	var wg sync.WaitGroup
	for i, r := range reads {
		wg.Go(func() {
			_, _ = io.Copy(writers[i], r)
			if f, ok := writers[i].(interface{ Flush() }); ok {
				f.Flush()
			}
		})
	}
	go func() {
		wg.Wait()
		close(g.copyDone)
	}()
	return g, nil
}

// kill sends SIGKILL to the whole group unless the leader already exited.
func (g *group) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.exited {
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// wait waits for the leader, kills the rest of the group, reaps the leader
// and collects the remaining output. It must be called exactly once.
func (g *group) wait() *os.ProcessState {
	pid := g.cmd.Process.Pid
	// Wait without reaping: while the leader is a zombie its pid cannot be
	// reused, so signalling -pid is guaranteed to hit our group only.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	g.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	g.exited = true
	g.mu.Unlock()

	_ = g.cmd.Wait()

	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-g.copyDone:
	case <-timer.C:
		// Closing the read ends unblocks the copy goroutines.
		g.closeOutputs()
		<-g.copyDone
	}
	g.closeOutputs()
	return g.cmd.ProcessState
}

// exitCode follows the shell convention of 128+signal for killed processes.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (g *group) closeOutputs() {
	for _, f := range g.outs {
		f.Close()
	}
}
