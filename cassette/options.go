package cassette

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// EnvRecord turns recording on in integration runs: 1 (or once) records
// missing cassettes, all re-records every one, verify proves existing ones
// against real Python, replay fails on a missing one; unset (or 0) records
// nothing.
const EnvRecord = "PYHARNESS_RECORD"

// Mode says what a recording hook (harness.Record, gotest.Record) does.
type Mode int

const (
	// ModeOff: calls go to Python; nothing is read or written.
	ModeOff Mode = iota
	// ModeRecordOnce: a missing cassette is recorded; an existing one is kept.
	ModeRecordOnce
	// ModeReplayOnly: a missing cassette fails (CI's default for replays).
	ModeReplayOnly
	// ModeRecordAll: every cassette is recorded again.
	ModeRecordAll
	// ModeVerify: each existing cassette's calls are made again on real Python
	// and the spec fails when an answer differs, showing the difference.
	ModeVerify
)

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeRecordOnce:
		return "record once"
	case ModeReplayOnly:
		return "replay only"
	case ModeRecordAll:
		return "record all"
	case ModeVerify:
		return "verify"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ModeFromEnv reads EnvRecord; an unknown value is an error naming the
// known ones.
func ModeFromEnv() (Mode, error) {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvRecord))); v {
	case "", "0", "off", "false":
		return ModeOff, nil
	case "1", "once", "true":
		return ModeRecordOnce, nil
	case "all":
		return ModeRecordAll, nil
	case "verify":
		return ModeVerify, nil
	case "replay":
		return ModeReplayOnly, nil
	default:
		return ModeOff, fmt.Errorf("cassette: %s=%q: want 1 (record once), all, verify, replay or 0", EnvRecord, v)
	}
}

// Matcher says whether a call (method and args, as the wire carries them,
// redacted) is the recorded interaction rec.
type Matcher func(rec Interaction, method string, args json.RawMessage) bool

// ExactArgs matches the method and args, compared as JSON values: the
// default.
func ExactArgs(rec Interaction, method string, args json.RawMessage) bool {
	return rec.Method == method && jsonEqual(rec.Args, args)
}

// ByMethod matches the method whatever the args.
func ByMethod(rec Interaction, method string, _ json.RawMessage) bool {
	return rec.Method == method
}

// Config is what the options set; recording hooks and replays read it.
type Config struct {
	Mode    Mode
	modeSet bool
	Redact  []string
	Matcher Matcher
	// Dir is where a recording hook puts its cassettes (default: the spec
	// file's or the package's testdata/cassettes).
	Dir string
}

// Option configures a recorder, a recording hook or a replay.
type Option func(*Config)

// WithMode sets the mode, over EnvRecord.
func WithMode(m Mode) Option { return func(c *Config) { c.Mode, c.modeSet = m, true } }

// WithRedact replaces the values of these object keys (anywhere in args,
// results, items and calls into Go; compared case-insensitively) by
// RedactedValue before anything is written.
func WithRedact(keys ...string) Option {
	return func(c *Config) { c.Redact = append(c.Redact, keys...) }
}

// WithMatcher sets how a call finds its recorded interaction (default
// ExactArgs).
func WithMatcher(m Matcher) Option { return func(c *Config) { c.Matcher = m } }

// WithDir sets the directory of a recording hook's cassettes.
func WithDir(dir string) Option { return func(c *Config) { c.Dir = dir } }

// Resolve applies opts over the defaults: the mode from EnvRecord (an
// invalid value is returned as the error), ExactArgs.
func Resolve(opts ...Option) (Config, error) {
	c := Config{Matcher: ExactArgs}
	for _, o := range opts {
		o(&c)
	}
	if c.modeSet {
		return c, nil
	}
	m, err := ModeFromEnv()
	c.Mode = m
	return c, err
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// FileName is a stable, filesystem-safe cassette name for a spec's or
// test's name: lower case, words joined by '-', ".jsonl"; a long name is
// cut and keeps a hash of the whole.
func FileName(name string) string {
	slug := strings.Trim(unsafe.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if slug == "" {
		slug = "cassette"
	}
	if len(slug) > 96 {
		sum := sha256.Sum256([]byte(name))
		slug = strings.TrimRight(slug[:96], "-") + "-" + hex.EncodeToString(sum[:4])
	}
	return slug + ".jsonl"
}

// redact replaces the values of keys in raw.
func redact(raw json.RawMessage, keys []string) json.RawMessage {
	if len(keys) == 0 || raw == nil {
		return raw
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	if !redactValue(v, keys) {
		return raw
	}
	out, err := encode(v)
	if err != nil {
		return raw
	}
	return out
}

func redactValue(v any, keys []string) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if isKey(k, keys) {
				x[k] = RedactedValue
				changed = true
				continue
			}
			changed = redactValue(val, keys) || changed
		}
	case []any:
		for _, val := range x {
			changed = redactValue(val, keys) || changed
		}
	}
	return changed
}

func isKey(k string, keys []string) bool {
	for _, key := range keys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// Redact returns raw with the cassette's redacted keys replaced, as the
// recorder wrote the args: what a replay matches a call by.
func (c *Cassette) Redact(raw json.RawMessage) json.RawMessage { return redact(raw, c.Redacted) }

func (in *Interaction) redact(keys []string) {
	in.Args = redact(in.Args, keys)
	in.Result = redact(in.Result, keys)
	for i := range in.Items {
		in.Items[i] = redact(in.Items[i], keys)
	}
	for i := range in.CallGo {
		in.CallGo[i].Args = redact(in.CallGo[i].Args, keys)
		in.CallGo[i].Result = redact(in.CallGo[i].Result, keys)
	}
}
