package proc

import (
	"fmt"
	"os"
)

// TempPrefix starts the names of the temporary directories pyharness makes:
// pyh-<kind>-<owner pid>-<owner start time>-<random>.
const TempPrefix = "pyh-"

// MkdirTemp makes a temporary directory (for sockets) named after this
// process, so that realpy.ReapOrphans removes it once this process is dead, should
// it die without removing it itself.
func MkdirTemp(kind string) (string, error) {
	start, _ := StartTime(os.Getpid())
	return os.MkdirTemp("", fmt.Sprintf("%s%s-%d-%d-", TempPrefix, kind, os.Getpid(), start))
}

// StartTime returns when a live process started, in clock ticks since
// boot; with its pid it names a process even after the pid is reused.
func StartTime(pid int) (uint64, bool) {
	st, ok := ReadStat(pid)
	if !ok || st.Dead() {
		return 0, false
	}
	return st.Start, true
}
