// Package spawnsock starts a process with one end of a Unix socketpair as
// its fd 3, the channel the pyharness worker speaks its protocol on, and
// returns the other end. realpy's workers and the bench's bare echo start
// the same way.
package spawnsock

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// Start starts cmd with a socket on fd 3 (cmd.ExtraFiles must be empty) and
// returns this side's end. On error nothing is left open or running.
func Start(cmd *exec.Cmd) (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	local := os.NewFile(uintptr(fds[0]), "pyharness-go")
	remote := os.NewFile(uintptr(fds[1]), "pyharness-python")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		remote.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	cmd.ExtraFiles = []*os.File{remote}
	err = cmd.Start()
	remote.Close() // the child holds its own copy
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return conn, nil
}
