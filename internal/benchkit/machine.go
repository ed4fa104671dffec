// The machine a run was measured on.

package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine is where and when a run was measured.
type Machine struct {
	Cores   int    `json:"cores"`
	CPU     string `json:"cpu"`
	Python  string `json:"python"` // version
	PyPath  string `json:"python_path"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	LoadAvg string `json:"load_avg,omitempty"` // /proc/loadavg's three averages at the end of the run
	Date    string `json:"date"`               // UTC, RFC 3339
	Commit  string `json:"commit,omitempty"`   // git's short HEAD, "-dirty" with changes
}

// Line is the machine in one line, as the bench's reports end with it.
func (m *Machine) Line() string {
	return fmt.Sprintf("%s: %d cores (%s), %s, %s %s, load average %s, commit %s", m.Date, m.Cores, m.CPU, m.Python, m.Go, m.OS, m.LoadAvg, m.Commit)
}

// DescribeMachine describes this machine, python and the checkout.
func DescribeMachine(ctx context.Context, python string) *Machine {
	m := &Machine{Cores: runtime.NumCPU(), CPU: cpuModel(), PyPath: python, Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC().Format(time.RFC3339)}
	if out, err := exec.CommandContext(ctx, python, "-c", "import sys; print('%s %d.%d.%d' % ((sys.implementation.name,) + tuple(sys.version_info[:3])))").Output(); err == nil {
		m.Python = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += "-dirty"
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
