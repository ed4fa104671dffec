//go:build unix

package wire_test

import (
	"syscall"
	"time"
)

// processCPU is the user and system time the process has used: benchmarks
// report it per op besides wall time, which says little on a busy machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
