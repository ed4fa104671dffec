// Package spawnsock starts a process with ends of Unix socketpairs as its
// fds 3, 4, ...: the channel the pyharness worker speaks its protocol on,
// and its liveness channel. realpy's workers and the bench's bare echo start
// the same way.
package spawnsock

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// Start starts cmd with n sockets on fds 3..3+n-1 (cmd.ExtraFiles must be
// empty) and returns this side's ends, in order. On error nothing is left
// open or running.
func Start(cmd *exec.Cmd, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	var remotes []*os.File
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		for _, f := range remotes {
			f.Close()
		}
	}
	for range n {
		local, remote, err := Pair()
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, local)
		remotes = append(remotes, remote)
	}
	cmd.ExtraFiles = remotes
	err := cmd.Start()
	for _, f := range remotes { // the child holds its own copies
		f.Close()
	}
	remotes = nil
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return conns, nil
}

// Pair returns a connected Unix stream socketpair: this side's end as a
// net.Conn, the other as a file to hand to a process.
func Pair() (net.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	local := os.NewFile(uintptr(fds[0]), "pyharness-go")
	remote := os.NewFile(uintptr(fds[1]), "pyharness-python")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		remote.Close()
		return nil, nil, fmt.Errorf("socket: %w", err)
	}
	return conn, remote, nil
}
