// Package wire is the pyharness wire protocol: the frame codec, the request
// and response envelopes and the typed errors every other package returns.
//
// A frame is a 4-byte big-endian unsigned length followed by that many bytes
// of UTF-8 JSON. Frames travel on a channel of their own (a socket), never on
// the stdout or stderr that Python code prints to. PROTOCOL.md at the root of
// the repository is the normative description; this package and the Python
// worker in python/pyharness_worker both follow it.
//
// Numbers are kept exact: Unmarshal decodes numbers into json.Number when the
// target is an interface, so an integer above 2^53 never takes a float64
// detour.
//
// The package imports nothing else of pyharness and needs no Ginkgo.
package wire
