package realpy_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// BenchmarkPing is one ping round trip through realpy: encode, frame, write,
// Python decode and dispatch, reply, read, correlate, decode. Run it with
// -benchtime=10000x for the figure in the README; it reports the median and
// the 99th percentile besides the mean.
func BenchmarkPing(b *testing.B) {
	ctx := context.Background()
	w, err := realpy.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var hello realpy.Hello
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := w.Call(ctx, "ping", nil, &hello); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkBareEcho is the floor BenchmarkPing is measured against: the same
// interpreter echoing raw frames over the same kind of socket, with no JSON
// and no dispatch on either side.
func BenchmarkBareEcho(b *testing.B) {
	python, err := realpy.FindPython("")
	if err != nil {
		b.Fatal(err)
	}
	source, err := realpy.WorkerSource()
	if err != nil {
		b.Fatal(err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	local, remote := os.NewFile(uintptr(fds[0]), "go"), os.NewFile(uintptr(fds[1]), "python")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(python, "-m", "pyharness_worker.bare_echo", "--fd", "3")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+source)
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	remote.Close()
	defer func() {
		conn.Close() // EOF ends the echo loop
		_ = cmd.Wait()
	}()

	payload := []byte(`{"id":1,"method":"ping","args":null}`)
	frame, _ := wire.AppendFrame(nil, payload, wire.DefaultMaxFrame)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := wire.ReadFrame(conn, wire.DefaultMaxFrame); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkStart is the cost of one worker: spawn, import, readiness ping, Close.
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	if _, err := realpy.FindPython(""); err != nil { // resolve a shim once, outside the timing
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		w, err := realpy.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, samples)
}

func report(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPoolCall is one call through a pool of two forked workers:
// checkout, call, checkin.
func BenchmarkPoolCall(b *testing.B) {
	ctx := context.Background()
	p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))
	if err != nil {
		if p != nil {
			p.Close()
		}
		b.Fatal(err)
	}
	defer p.Close()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := p.Call(ctx, "echo", "hi", nil); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkFresh is one private worker forked from a warm zygote, ready to
// serve, then closed.
func BenchmarkFresh(b *testing.B) {
	ctx := context.Background()
	p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork))
	if err != nil {
		if p != nil {
			p.Close()
		}
		b.Fatal(err)
	}
	defer p.Close()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w, err := p.Fresh(ctx)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	report(b, samples)
}
