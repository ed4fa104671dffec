// Package mockhook lets pyharness's test packages configure a mock in ways
// that are not part of mockpy's public options.
package mockhook

// WithHelper returns a mockpy.Option (as any: this package cannot import
// mockpy) under which the mock marks its own call path as a helper of h
// (a testing.TB), so t.Error reports the line of the test, not the mock's.
// mockpy sets it in its init.
var WithHelper func(h interface{ Helper() }) any
