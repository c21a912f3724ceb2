//go:build race

package remote_test

// raceEnabled is true when the tests run under the race detector, which
// makes moving tens of megabytes slow.
const raceEnabled = true
