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

// Output is everything a worker wrote to stdout or stderr, captured whole
// and readable while the worker runs. In specs, poll it with Gomega:
//
//	Eventually(w.Stdout().String).Should(ContainSubstring("loaded"))
//
// It is safe for concurrent use.
type Output struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func newOutput() *Output { return &Output{} }

// Write appends p; after Close it fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, io.ErrClosedPipe
	}
	o.buf = append(o.buf, p...)
	return len(p), nil
}

// Contents returns a copy of everything written so far.
func (o *Output) Contents() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
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
