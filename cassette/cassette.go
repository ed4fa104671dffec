// Package cassette records what a Python interpreter answered and keeps it
// in a file that unit specs replay (mockpy.Replay, gotest.Replay) and that an
// integration run in verify mode proves against real Python again.
//
// A cassette is JSON lines: a header, then one interaction per line, in the
// order the calls were made, with sorted keys and nothing volatile (no
// timings, pids or worker ids; tracebacks keep file base names), so two
// recordings of the same specs are byte-identical and a diff of a cassette
// reads as a diff of what Python answered:
//
//	{"cassette":"pyharness","version":1}
//	{"args":{"text":"great"},"method":"classify","result":{"label":"positive","score":1}}
//	{"args":{"text":"an awful phone"},"call_go":[{"args":"an","name":"lexicon","result":"neutral"}],"items":["an:neutral"],"method":"explain","stream":true}
//
// A Recorder wraps a pyharness.Caller (and its Streamer) and records method,
// args, the result or typed error, stream items and the calls the handler
// made into Go with their answers. The package imports only the standard
// library, wire and the root package, so production code may hold a
// Recorder.
package cassette

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pyharness/pyharness/wire"
)

// Version is the format version a cassette's header carries.
const Version = 1

// Cassette is a recording: the calls made, in order.
type Cassette struct {
	// Redacted are the object keys whose values were replaced by
	// RedactedValue before anything was written; a replay redacts a call's
	// args the same way before matching.
	Redacted     []string
	Interactions []Interaction
}

// RedactedValue replaces the value of a redacted key.
const RedactedValue = "[redacted]"

// Interaction is one call and its answer.
type Interaction struct {
	Method string          `json:"method"`
	Args   json.RawMessage `json:"args"`
	Stream bool            `json:"stream,omitempty"`
	// CallGo are the calls the handler made into Go, in order, and their answers.
	CallGo []GoCall `json:"call_go,omitempty"`
	// Items are the stream items the caller took, in order.
	Items []json.RawMessage `json:"items,omitempty"`
	// Cancelled: the caller left the stream before it ended.
	Cancelled bool            `json:"cancelled,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

// GoCall is one call a handler made into Go, and what Go answered.
type GoCall struct {
	Name   string          `json:"name"`
	Args   json.RawMessage `json:"args"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is a recorded error. For a Python error Kind is wire's kind
// (exception, unknown_method, ...) with Type, Message and the traceback's
// lines (without the worker's own frames); otherwise Kind names what happened: worker_exited (with Code),
// deadline_exceeded, canceled, closed, frame_too_large, protocol, or error
// (with Message) for a Go function's or any other error.
type Error struct {
	Kind      string   `json:"kind"`
	Type      string   `json:"type,omitempty"`
	Message   string   `json:"message,omitempty"`
	Traceback []string `json:"traceback,omitempty"`
	Code      int      `json:"code,omitempty"`
}

func (e *Error) String() string {
	switch {
	case e.Type != "":
		return fmt.Sprintf("%s %s: %s", e.Kind, e.Type, e.Message)
	case e.Message != "":
		return e.Kind + ": " + e.Message
	case e.Kind == "worker_exited":
		return fmt.Sprintf("worker_exited (code %d)", e.Code)
	}
	return e.Kind
}

type header struct {
	Cassette string   `json:"cassette"`
	Version  int      `json:"version"`
	Redacted []string `json:"redacted,omitempty"`
}

// ErrNotFound: no cassette at the path (replay only mode fails with it).
var ErrNotFound = errors.New("cassette not found")

// Load reads the cassette at path; a missing file is ErrNotFound, saying
// how to record it.
func Load(path string) (*Cassette, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cassette: %s: %w (record it: run the integration specs with %s=1)", path, ErrNotFound, EnvRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("cassette: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("cassette: %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a cassette from its bytes.
func Parse(data []byte) (*Cassette, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	c := &Cassette{}
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if line == 1 {
			var h header
			if err := json.Unmarshal(text, &h); err != nil || h.Cassette != "pyharness" {
				return nil, fmt.Errorf("line 1: not a pyharness cassette header")
			}
			if h.Version != Version {
				return nil, fmt.Errorf("line 1: version %d, this pyharness reads %d", h.Version, Version)
			}
			c.Redacted = h.Redacted
			continue
		}
		var in Interaction
		if err := json.Unmarshal(text, &in); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		c.Interactions = append(c.Interactions, in)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("empty file")
	}
	return c, nil
}

// Bytes encodes the cassette: a header line, then one line per interaction,
// keys sorted, values canonical.
func (c *Cassette) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	if err := writeLine(&buf, header{Cassette: "pyharness", Version: Version, Redacted: c.Redacted}); err != nil {
		return nil, err
	}
	for i, in := range c.Interactions {
		if err := writeLine(&buf, in.canonical()); err != nil {
			return nil, fmt.Errorf("cassette: interaction %d (%s): %w", i+1, in.Method, err)
		}
	}
	return buf.Bytes(), nil
}

// Save writes the cassette to path (creating its directory), atomically.
func (c *Cassette) Save(path string) error {
	data, err := c.Bytes()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cassette: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("cassette: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cassette: %w", err)
	}
	return nil
}

// writeLine writes v as one line of JSON with sorted keys: v goes through a
// generic value first, so struct fields and map keys alike come out sorted.
func writeLine(buf *bytes.Buffer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw, err = canonical(raw)
	if err != nil {
		return err
	}
	buf.Write(raw)
	buf.WriteByte('\n')
	return nil
}

// canonical re-encodes JSON with sorted keys, exact numbers and no HTML
// escaping.
func canonical(raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	var v any
	if err := wire.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return encode(v)
}

func encode(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (in Interaction) canonical() Interaction {
	out := in
	out.Args = mustCanonical(in.Args)
	if out.Args == nil {
		out.Args = json.RawMessage("null")
	}
	out.Result = mustCanonical(in.Result)
	if in.Items != nil {
		out.Items = make([]json.RawMessage, len(in.Items))
		for i, it := range in.Items {
			out.Items[i] = mustCanonical(it)
			if out.Items[i] == nil {
				out.Items[i] = json.RawMessage("null")
			}
		}
	}
	if in.CallGo != nil {
		out.CallGo = make([]GoCall, len(in.CallGo))
		for i, g := range in.CallGo {
			g.Args = mustCanonical(g.Args)
			if g.Args == nil {
				g.Args = json.RawMessage("null")
			}
			g.Result = mustCanonical(g.Result)
			out.CallGo[i] = g
		}
	}
	return out
}

func mustCanonical(raw json.RawMessage) json.RawMessage {
	c, err := canonical(raw)
	if err != nil {
		return raw
	}
	return c
}

// relativeTraceback keeps a traceback's lines, with each file named by its
// base name, so a cassette does not depend on the checkout's path.
func relativeTraceback(tb string) []string {
	if tb == "" {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(tb, "\n"), "\n") {
		if i := strings.Index(l, `File "`); i >= 0 {
			rest := l[i+len(`File "`):]
			if j := strings.Index(rest, `"`); j >= 0 {
				l = l[:i] + `File "` + filepath.Base(rest[:j]) + rest[j:]
			}
		}
		lines = append(lines, l)
	}
	return lines
}
