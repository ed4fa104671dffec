package realpy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// Large values through a real worker. Each benchmark reports MiB/s counting
// the value both ways (2 MiB a call), so BenchmarkEcho1MiB and
// BenchmarkBareEcho1MiB read side by side: run them in one command,
// interleaved with -count, for the ratio.

const mib = 1 << 20

// largeText repeats unit up to about 1 MiB, cut on a rune boundary.
func largeText(unit string) string {
	s := strings.Repeat(unit, mib/len(unit)+1)[:mib]
	return strings.ToValidUTF8(s, "")
}

// BenchmarkEcho1MiB echoes a 1 MiB value through one worker: ascii (the
// fast path's text), prose (newlines, quotes and tabs: escapes on the
// wire), nonascii (multi-byte UTF-8), bytes ([]byte, base64 on the wire).
func BenchmarkEcho1MiB(b *testing.B) {
	ctx := context.Background()
	w, err := realpy.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	texts := []struct{ name, text string }{
		{"ascii", strings.Repeat("x", mib)},
		{"prose", largeText("He said \"hello\", then left.\nA new line\tand a tab.\n")},
		{"nonascii", largeText("héllo wörld ✓ 日本語のテキスト 😀 ")},
	}
	for _, tc := range texts {
		b.Run(tc.name, func(b *testing.B) {
			var back string
			throughput(b, func() error { return w.Call(ctx, "echo", tc.text, &back) })
			if back != tc.text {
				b.Fatal("the echo differs")
			}
		})
	}
	b.Run("bytes", func(b *testing.B) {
		value := make([]byte, mib)
		for i := range value {
			value[i] = byte(i * 7)
		}
		var back []byte
		throughput(b, func() error { return w.Call(ctx, "echo", value, &back) })
		if !bytes.Equal(back, value) {
			b.Fatal("the echo differs")
		}
	})
}

// BenchmarkBareEcho1MiB is the floor of BenchmarkEcho1MiB/ascii: the same
// request frame echoed by the same interpreter with no JSON on either side.
func BenchmarkBareEcho1MiB(b *testing.B) {
	e := bareEcho(b)
	args, err := wire.Marshal(strings.Repeat("x", mib))
	if err != nil {
		b.Fatal(err)
	}
	frame, err := wire.AppendFrame(nil, []byte(`{"id":1,"method":"echo","args":`+string(args)+`}`), wire.DefaultMaxFrame)
	if err != nil {
		b.Fatal(err)
	}
	throughput(b, func() error {
		back, err := e.Echo(frame)
		if err == nil && len(back) != len(frame)-wire.HeaderSize {
			b.Fatalf("echoed %d bytes of %d", len(back), len(frame)-wire.HeaderSize)
		}
		return err
	})
}

// throughput runs call b.N times and reports MiB/s, 2 MiB a call, and the
// CPU time a call costs this process (go-cpu-us/op) and its Python children
// (py-cpu-us/op): on a busy machine wall time says little, CPU time holds,
// and MiB/cpu-s (2 MiB over both sides' CPU time) is what the round trip
// gives when nothing else runs.
func throughput(b *testing.B, call func() error) {
	b.SetBytes(2 * mib)
	b.ReportAllocs()
	if err := call(); err != nil { // warm: the first call pays for lazy set-up
		b.Fatal(err)
	}
	pyBefore := childrenCPU()
	goBefore := selfCPU(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	goCPU := selfCPU(b) - goBefore
	pyCPU := childrenCPU() - pyBefore
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "MiB/s")
	b.ReportMetric(float64(goCPU.Microseconds())/float64(b.N), "go-cpu-us/op")
	b.ReportMetric(float64(pyCPU.Microseconds())/float64(b.N), "py-cpu-us/op")
	if cpu := goCPU + pyCPU; cpu > 0 {
		b.ReportMetric(float64(2*b.N)/cpu.Seconds(), "MiB/cpu-s")
	}
}

// selfCPU is the user and system time this process has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU is the user and system time the live children of this
// process (the worker, the bare echo) have used, from /proc.
func childrenCPU() time.Duration {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	var ticks int64
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		end := bytes.LastIndexByte(stat, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(string(stat[end+1:])) // state, ppid, ... utime is field 14 of the line
		if len(fields) < 13 || fields[1] != self {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks += utime + stime
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
