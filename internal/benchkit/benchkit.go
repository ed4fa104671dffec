// Package benchkit holds the figures of `pyharness bench` (which drives the
// measurements: cmd/pyharness/bench_run.go) and what the Go benchmarks share
// with it: the bare echo, percentiles, checkout fairness; the reference
// rows (an os/exec NDJSON loop and the floor beside a pool) and the
// generated Numbers table. It imports no realpy: a pool comes in as the
// Pool interface or a pyharness.Caller.
package benchkit

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/pyharness/pyharness/internal/spawnsock"
)

// Result is one strategy's start-up.
type Result struct {
	Strategy     string  `json:"strategy"`
	ReadyMS      float64 `json:"ready_ms"`
	Interpreters int64   `json:"interpreters"` // processes that paid for the import
	Forked       int64   `json:"forked"`
}

// Report is the whole run, in the shape of `pyharness bench --json`.
type Report struct {
	Workers        int      `json:"workers"`
	ImportCPUMS    int64    `json:"import_cpu_ms"`
	SingleMS       float64  `json:"single_ms"` // one zygote worker ready, zygote start included
	Results        []Result `json:"results"`
	FreshMedianMS  float64  `json:"fresh_median_ms"`
	PingP50US      float64  `json:"ping_p50_us"`
	PingP99US      float64  `json:"ping_p99_us"`
	RawEchoP50US   float64  `json:"raw_echo_p50_us"`
	RawEchoP99US   float64  `json:"raw_echo_p99_us"`
	PingOverRawP50 float64  `json:"ping_over_raw_p50"`
	Python         string   `json:"python"`
	Backend        string   `json:"backend"`
	// Container backend: pool ready with a fresh container (image present),
	// and attached to the warm container a previous run left (reuse).
	ContainerColdMS float64 `json:"container_cold_ms,omitempty"`
	ContainerWarmMS float64 `json:"container_warm_ms,omitempty"`
	// Process backend with reuse (realpy.StartHost): a pool of Workers
	// forked from a warm host, ready in the first run (which starts the
	// host) and in the second (which reuses it).
	ReuseFirstMS  float64 `json:"reuse_first_ms,omitempty"`
	ReuseSecondMS float64 `json:"reuse_second_ms,omitempty"`
	// 16 callers sharing a pool of 2 (the --fairness calls in all).
	Fairness *Fairness `json:"fairness,omitempty"`
	// Many calls per worker: the fan-out and throughput rows.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
	// The reference rows: pyharness beside an os/exec NDJSON loop and
	// the floor, in interleaved rounds.
	Reference *Reference `json:"reference,omitempty"`
	// Example is the example row (--example): a consumer's mocked suite
	// beside its second reused integration run.
	Example *Example `json:"example,omitempty"`
	Machine *Machine `json:"machine,omitempty"`
	// Command is the bench command as run (its measuring flags).
	Command string `json:"command,omitempty"`
}

// BareEcho is the floor of a round trip: the same interpreter echoing raw
// frames over the same kind of socket, with no JSON and no dispatch
// (FloorScript: stdlib only, nothing of pyharness_worker imported).
type BareEcho struct {
	conn net.Conn
	cmd  *exec.Cmd
}

// StartBareEcho starts python -c FloorScript with its socket on fd 3.
func StartBareEcho(python string) (*BareEcho, error) {
	cmd := exec.Command(python, "-c", FloorScript)
	cmd.Stderr = os.Stderr
	conns, err := spawnsock.Start(cmd, 1)
	if err != nil {
		return nil, err
	}
	return &BareEcho{conn: conns[0], cmd: cmd}, nil
}

// echoFrame is a ping's frame: a 4-byte big-endian length, then the payload.
var echoFrame = frame([]byte(`{"id":1,"method":"ping","args":null}`))

// RoundTrip sends one ping-sized frame and reads it back.
func (e *BareEcho) RoundTrip() error {
	_, err := e.Echo(echoFrame)
	return err
}

// Echo sends frame (header included) and returns the payload read back.
// The floor frames on its own (no wire package: work on the wire does not
// move the floor) and checks nothing.
func (e *BareEcho) Echo(frame []byte) ([]byte, error) {
	if _, err := e.conn.Write(frame); err != nil {
		return nil, err
	}
	return e.read()
}

func (e *BareEcho) read() ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(e.conn, header[:]); err != nil {
		return nil, fmt.Errorf("floor: read: %w", err)
	}
	payload := make([]byte, binary.BigEndian.Uint32(header[:]))
	if _, err := io.ReadFull(e.conn, payload); err != nil {
		return nil, fmt.Errorf("floor: read: %w", err)
	}
	return payload, nil
}

func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(payload)), uint32(len(payload))), payload...)
}

// Close ends the echo loop (EOF) and reaps the process.
func (e *BareEcho) Close() error {
	e.conn.Close()
	return e.cmd.Wait()
}

// ParseStrategies splits a comma-separated list.
func ParseStrategies(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
