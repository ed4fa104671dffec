package wire

import "context"

type sessionKey struct{}

// WithSession returns a context whose calls carry the session id: workers keep
// per-session state, pools route the session to the worker that served it.
func WithSession(ctx context.Context, session string) context.Context {
	return context.WithValue(ctx, sessionKey{}, session)
}

// SessionFrom returns the session id carried by ctx, or "".
func SessionFrom(ctx context.Context) string {
	s, _ := ctx.Value(sessionKey{}).(string)
	return s
}
