package realpy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// liveness is a worker's liveness channel: a socket on which a thread of
// the worker echoes every byte it reads (python/pyharness_worker/liveness.py).
type liveness struct {
	mu   sync.Mutex // one probe at a time
	conn net.Conn
	seq  byte
	buf  [64]byte
}

func newLiveness(conn net.Conn) *liveness { return &liveness{conn: conn} }

// errNotAlive: the liveness channel broke (the worker is gone).
var errNotAlive = errors.New("liveness channel closed")

// probe writes the next sequence byte and waits until it comes back,
// skipping the late answers of probes that gave up, or until ctx ends.
func (l *liveness) probe(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	want := l.seq
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	stop := context.AfterFunc(ctx, func() { _ = l.conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		_ = l.conn.SetDeadline(time.Time{})
	}()
	_ = l.conn.SetDeadline(deadline)
	if _, err := l.conn.Write([]byte{want}); err != nil {
		return l.failed(ctx, err)
	}
	for {
		n, err := l.conn.Read(l.buf[:])
		if n > 0 && l.buf[n-1] == want {
			return nil
		}
		if err != nil {
			return l.failed(ctx, err)
		}
	}
}

func (l *liveness) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return context.DeadlineExceeded
	}
	return fmt.Errorf("%w: %v", errNotAlive, err)
}

// close closes the channel; the worker's thread reads EOF. Nil-safe.
func (l *liveness) close() {
	if l != nil {
		_ = l.conn.Close()
	}
}
