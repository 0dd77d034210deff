package bwrap

import (
	"encoding/binary"
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Everything in a sandbox (the toolbox and every command it starts) runs
// under this seccomp filter, installed by bwrap (--seccomp FD) right before
// it execs the toolbox. It allows by default and denies the kernel
// surfaces that only serve escapes and snooping: a denylist, because a dev
// box must run whatever toolchains a project brings.
//
// Deny actions are errno values rather than kills so that programs see an
// ordinary error and carry on.
var (
	errnoEPERM  = seccomp.Action(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	errnoENOSYS = seccomp.Action(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
)

// deniedSyscalls answer EPERM whatever their arguments.
var deniedSyscalls = []string{
	// Reading or writing other processes of the same uid (the toolbox,
	// bwrap's pid 1).
	"ptrace", "process_vm_readv", "process_vm_writev",
	// Taking another process's fds (bwrap's pid 1 holds a pipe to the
	// host) or advising on its memory.
	"pidfd_getfd", "process_madvise",
	// Kernel keyrings are not namespaced.
	"keyctl", "add_key", "request_key",
	// Large, often-exploited kernel surfaces no app build needs.
	"bpf", "perf_event_open", "userfaultfd",
	// io_uring can also open sockets (AF_VSOCK) without socket(2).
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// Mounts, old and new API.
	"mount", "umount2", "pivot_root", "chroot",
	"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	// Kernel code.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	// File handles bypass path-based checks (the "shocker" escape).
	"open_by_handle_at", "name_to_handle_at",
	// Entering other namespaces.
	"setns",
	// Host-wide settings.
	"acct", "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "syslog", "quotactl", "nfsservctl", "vhangup", "lookup_dcookie",
}

// Filter returns the sandbox's seccomp program in the binary form bwrap's
// --seccomp reads (an array of struct sock_filter).
func Filter() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	bitsSet := func(name string, arg uint32, bits uint64) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: seccomp.ArgumentConditions{
			{Argument: arg, Operation: seccomp.BitsSet, Value: bits},
		}}
	}
	equal := func(name string, arg uint32, v uint64) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: seccomp.ArgumentConditions{
			{Argument: arg, Operation: seccomp.Equal, Value: v},
		}}
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: deniedSyscalls, Action: errnoEPERM},
			{
				NamesWithCondtions: []seccomp.NameWithConditions{
					// New user namespaces would give back every capability
					// (--disable-userns blocks them too; this also covers
					// a kernel where that limit is missing).
					bitsSet("unshare", 0, unix.CLONE_NEWUSER),
					bitsSet("clone", 0, unix.CLONE_NEWUSER),
					// Host-facing VM sockets (AF_VSOCK = 40).
					equal("socket", 0, unix.AF_VSOCK),
					// Typing into the terminal of whoever holds it.
					equal("ioctl", 1, unix.TIOCSTI),
					equal("ioctl", 1, unix.TIOCLINUX),
				},
				Action: errnoEPERM,
			},
			// clone3 passes its flags in memory that seccomp cannot read.
			// ENOSYS (not EPERM) makes glibc fall back to clone, whose
			// flags the rule above checks; with EPERM, node's threads fail.
			{Names: []string{"clone3"}, Action: errnoENOSYS},
		},
	}
	prog, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	// The library lets syscalls of a foreign architecture through to the
	// default action, but a 64-bit x86 process can still make 32-bit
	// syscalls (int 0x80), whose numbers differ: refuse all of them.
	guard := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(errnoENOSYS)},
	}
	raw, err := bpf.Assemble(append(guard, prog...))
	if err != nil {
		return nil, fmt.Errorf("seccomp: encode: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, in := range raw {
		out = binary.NativeEndian.AppendUint16(out, in.Op)
		out = append(out, in.Jt, in.Jf)
		out = binary.NativeEndian.AppendUint32(out, in.K)
	}
	return out, nil
}
