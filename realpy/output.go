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
