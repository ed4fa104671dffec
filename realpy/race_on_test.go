//go:build race

package realpy

// raceEnabled: the race detector is on; sync.Pool then drops what it is
// given at random, so allocation counts are not the program's.
const raceEnabled = true
