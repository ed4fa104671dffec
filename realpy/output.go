package realpy

import (
	"bytes"
	"io"
	"sync"
)

// prefixed returns a writer that prefixes every line written to w. It never
// fails: a broken tee must not stop the capture of a worker's output.
func prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: []byte(prefix), atLineStart: true}
}

type prefixWriter struct {
	mu          sync.Mutex
	w           io.Writer
	prefix      []byte
	atLineStart bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out bytes.Buffer
	for _, c := range b {
		if p.atLineStart {
			out.Write(p.prefix)
			p.atLineStart = false
		}
		out.WriteByte(c)
		if c == '\n' {
			p.atLineStart = true
		}
	}
	_, _ = p.w.Write(out.Bytes())
	return len(b), nil
}

// Output is what a worker wrote to stdout or stderr: the last
// WithOutputLimit bytes of it (default DefaultOutputLimit), readable while
// the worker runs, and a count of what was dropped before them, so a chatty
// handler cannot grow the test process without end. In specs, poll it with
// Gomega:
//
//	Eventually(w.Stdout().String).Should(ContainSubstring("loaded"))
//
// It is safe for concurrent use.
type Output struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
	closed  bool
}

func newOutput(limit int) *Output {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	return &Output{limit: limit}
}

// Write appends p, keeping the last limit bytes; after Close it fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, io.ErrClosedPipe
	}
	o.buf = append(o.buf, p...)
	if len(o.buf) > 2*o.limit { // trim in batches: amortised O(1) per byte
		cut := len(o.buf) - o.limit
		o.dropped += int64(cut)
		o.buf = append(o.buf[:0:0], o.buf[cut:]...)
	}
	return len(p), nil
}

// kept returns the last limit bytes; under mu.
func (o *Output) kept() []byte {
	if len(o.buf) > o.limit {
		return o.buf[len(o.buf)-o.limit:]
	}
	return o.buf
}

// Contents returns a copy of the kept tail.
func (o *Output) Contents() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.kept())
}

// String returns the kept tail.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.kept())
}

// Dropped returns how many bytes were written before the kept tail.
func (o *Output) Dropped() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped + int64(len(o.buf)-len(o.kept()))
}

// Closed reports whether the stream has ended (the process is gone).
func (o *Output) Closed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

// Close ends the stream; the contents stay readable.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	return nil
}
