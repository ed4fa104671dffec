// The implementations the reference rows compare: what a team writes
// instead of pyharness (an os/exec NDJSON loop) and the floor (a bare
// framed echo). pyharness itself comes in from cmd/pyharness as a
// pyharness.Caller (benchkit imports no realpy).

package benchkit

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"unsafe"

	"github.com/pyharness/pyharness"
)

// NDJSONScript is the Python side of the NDJSON reference: for each line
// of stdin, json.loads, dispatch, print(json.dumps(reply), flush=True).
//
//go:embed ndjson_echo.py
var NDJSONScript string

// FloorScript is the floor: a bare Python loop echoing length-prefixed
// frames on fd 3, no protocol, nothing of pyharness_worker imported.
//
//go:embed floor_echo.py
var FloorScript string

// Conn is n workers of one implementation, ready for calls; Echo is safe
// for concurrent use (callers share the workers, one call per worker at a
// time).
type Conn interface {
	Echo(ctx context.Context, payload string) (string, error)
	Close() error
}

// Subject is one implementation under comparison: Start starts n workers
// (nothing imported beyond what the implementation needs) and returns once
// they can take calls.
type Subject struct {
	Name  string
	Start func(ctx context.Context, n int) (Conn, error)
}

// The subjects' names, in the order the rows list them.
const (
	SubjectPyharness = "pyharness"
	SubjectNDJSON    = "ndjson"
	SubjectFloor     = "floor"
)

// CallerConn is a Conn over a pyharness.Caller (a realpy pool): Echo is
// Call(ctx, "echo", payload, &reply).
func CallerConn(c pyharness.Caller, closer func() error) Conn {
	return callerConn{c, closer}
}

type callerConn struct {
	c      pyharness.Caller
	closer func() error
}

func (c callerConn) Echo(ctx context.Context, payload string) (string, error) {
	var back string
	err := c.c.Call(ctx, "echo", payload, &back)
	return back, err
}

func (c callerConn) Close() error { return c.closer() }

// NDJSONSubject is the os/exec NDJSON loop on python, n processes shared
// by the callers through a channel, as a team would write it.
func NDJSONSubject(python string) Subject {
	return Subject{Name: SubjectNDJSON, Start: func(ctx context.Context, n int) (Conn, error) {
		return startProcs(ctx, n, func() (echoer, error) { return StartNDJSON(python) })
	}}
}

// FloorSubject is the floor on python, n loops shared likewise.
func FloorSubject(python string) Subject {
	return Subject{Name: SubjectFloor, Start: func(ctx context.Context, n int) (Conn, error) {
		return startProcs(ctx, n, func() (echoer, error) { return StartBareEcho(python) })
	}}
}

// echoer is one process, one call at a time.
type echoer interface {
	echo(payload string) (string, error)
	Close() error
}

// NDJSON is one os/exec'd Python process reading one JSON object per line
// on its stdin and writing one per line on its stdout: the obvious code
// (json.Encoder on the pipe, bufio.Scanner on the other).
type NDJSON struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	enc   *json.Encoder
	lines *bufio.Scanner
	next  int64
}

type ndjsonRequest struct {
	ID     int64  `json:"id"`
	Method string `json:"method"`
	Args   any    `json:"args"`
}

type ndjsonReply struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// StartNDJSON starts python -c NDJSONScript.
func StartNDJSON(python string) (*NDJSON, error) {
	cmd := exec.Command(python, "-c", NDJSONScript)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the NDJSON loop: %w", err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 64<<20) // lines of a 1 MiB value and more
	return &NDJSON{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), lines: lines}, nil
}

// Call sends one request line and decodes the reply line's result into reply.
func (p *NDJSON) Call(method string, args, reply any) error {
	p.next++
	if err := p.enc.Encode(ndjsonRequest{ID: p.next, Method: method, Args: args}); err != nil {
		return fmt.Errorf("ndjson: write: %w", err)
	}
	if !p.lines.Scan() {
		if err := p.lines.Err(); err != nil {
			return fmt.Errorf("ndjson: read: %w", err)
		}
		return fmt.Errorf("ndjson: read: %w", io.ErrUnexpectedEOF)
	}
	var r ndjsonReply
	if err := json.Unmarshal(p.lines.Bytes(), &r); err != nil {
		return fmt.Errorf("ndjson: decode: %w", err)
	}
	switch {
	case r.Error != "":
		return fmt.Errorf("ndjson: %s", r.Error)
	case r.ID != p.next:
		return fmt.Errorf("ndjson: reply %d to request %d", r.ID, p.next)
	}
	return json.Unmarshal(r.Result, reply)
}

func (p *NDJSON) echo(payload string) (string, error) {
	var back string
	err := p.Call("echo", payload, &back)
	return back, err
}

// Close closes stdin (the loop ends at EOF) and reaps the process.
func (p *NDJSON) Close() error {
	p.stdin.Close()
	return p.cmd.Wait()
}

func (e *BareEcho) echo(payload string) (string, error) {
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(payload)))
	bufs := net.Buffers{header[:], unsafe.Slice(unsafe.StringData(payload), len(payload))}
	if _, err := bufs.WriteTo(e.conn); err != nil { // one writev, no copy
		return "", err
	}
	back, err := e.read()
	return string(back), err
}

// procs is n processes shared by callers: a caller takes one from free
// (first come, first served: the channel's waiters queue), calls, puts it back.
type procs struct {
	all  []echoer
	free chan echoer
}

func startProcs(ctx context.Context, n int, start func() (echoer, error)) (Conn, error) {
	p := &procs{free: make(chan echoer, n)}
	for range n {
		e, err := start()
		if err != nil {
			return nil, errors.Join(err, p.Close())
		}
		p.all = append(p.all, e)
		p.free <- e
	}
	return p, nil
}

func (p *procs) Echo(ctx context.Context, payload string) (string, error) {
	select {
	case e := <-p.free:
		defer func() { p.free <- e }()
		return e.echo(payload)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *procs) Close() error {
	var errs []error
	for _, e := range p.all {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}
