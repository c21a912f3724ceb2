package clone

// SetRecurseLimit sets how deep a copy recurses before it walks, and
// returns a func that restores the limit: 0 sends every copy through walk.
// Tests that set it must not run in parallel with other copies.
func SetRecurseLimit(n int) (restore func()) {
	old := recurseLimit
	recurseLimit = n
	return func() { recurseLimit = old }
}
