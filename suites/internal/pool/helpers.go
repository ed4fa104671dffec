package pool

import "bytes"

func bytesContains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
