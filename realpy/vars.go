// The package's sentinel errors, defaults and environment variables.

package realpy

import (
	"errors"
	"time"
)

// Sentinel errors, for errors.Is.
var (
	// ErrSessionBusy: strict-fail-fast affinity and the session's worker is busy.
	ErrSessionBusy = errors.New("realpy: the session's worker is busy")
	// ErrPoolExhausted: no worker became free within the checkout bound.
	ErrPoolExhausted = errors.New("realpy: no free worker")
	// ErrBreakerOpen is returned, without touching a worker, while the breaker is open.
	ErrBreakerOpen = errors.New("realpy: circuit breaker open")
	// ErrResourceExhausted matches a *ResourceError.
	ErrResourceExhausted = errors.New("realpy: out of a system resource")
)

var errCheckout = errors.New("checkout")

// Defaults of the options.
const (
	DefaultGrace        = 2 * time.Second
	DefaultStartTimeout = 60 * time.Second
	DefaultStderrTail   = 20
	DefaultPoolSize     = 2
	DefaultSessionTTL   = 10 * time.Minute
	DefaultMaxSessions  = 10000
	DefaultHostIdle     = 15 * time.Minute
	// DefaultOutputLimit is how much of each stream a worker keeps: 1 MiB.
	DefaultOutputLimit = 1 << 20
)

// Environment variables.
const (
	// EnvPython names the interpreter to use when no option does.
	EnvPython = "PYHARNESS_PYTHON"

	// Of warm hosts.
	EnvReuse    = "PYHARNESS_REUSE"     // 1: keep a suite's pool host warm between runs
	EnvHostIdle = "PYHARNESS_HOST_IDLE" // how long an unused warm host lives (a Go duration)

	// EnvHostEnvIgnore names more environment variables to leave out of a warm
	// host's key, comma-separated; a trailing * matches a prefix (MY_SESSION_*).
	// Set it to variables that differ on every run and that the handlers do not
	// read, or every run replaces the host. Left out always: PYHARNESS_* (the
	// harness's own plumbing), TMPDIR (a fresh one per test), GOCOVERDIR (a
	// fresh one per go test -cover run), _, PWD, OLDPWD and SHLVL (the shell's,
	// and the package directory the go command runs each test binary in), and
	// a login session's SSH_AUTH_SOCK, SSH_CLIENT, SSH_CONNECTION, SSH_TTY,
	// GPG_TTY, WINDOWID, TMUX_PANE, TERM_SESSION_ID, XDG_SESSION_ID.
	EnvHostEnvIgnore = "PYHARNESS_HOST_ENV_IGNORE"

	// Every worker process carries these, so that a leak check can find it
	// (and anything it started) from /proc.
	EnvOwnerPid = "PYHARNESS_OWNER_PID" // pid of the Go process that started it
	EnvWorkerID = "PYHARNESS_WORKER_ID"
	EnvRunID    = "PYHARNESS_RUN_ID"
)
