package workers

import (
	"sync"
	"sync/atomic"
)

// tracker counts in-flight calls and WaitUntil tasks without a lock on the
// call path: one atomic word holds the count and a closed bit.
type tracker struct {
	state    atomic.Int64
	idleOnce sync.Once
	idle     chan struct{}
}

const closedBit = int64(1) << 62

func newTracker() *tracker { return &tracker{idle: make(chan struct{})} }

// begin counts a new call, or reports false once the registry is closed.
func (t *tracker) begin() bool {
	if t.state.Add(1)&closedBit != 0 {
		t.done()
		return false
	}
	return true
}

// addTask counts a WaitUntil task. Tasks started by work still in flight are
// taken after Close too; only once everything has drained is one refused.
func (t *tracker) addTask() bool {
	if t.state.Add(1) == closedBit|1 {
		t.done()
		return false
	}
	select {
	case <-t.idle: // drained already; the count was raised only by a refused call
		t.done()
		return false
	default:
		return true
	}
}

func (t *tracker) done() {
	if t.state.Add(-1) == closedBit {
		t.idleOnce.Do(func() { close(t.idle) })
	}
}

// close refuses new calls and returns a channel closed when none is left.
func (t *tracker) close() <-chan struct{} {
	if t.state.Or(closedBit)&^closedBit == 0 {
		t.idleOnce.Do(func() { close(t.idle) })
	}
	return t.idle
}

func (t *tracker) closed() bool { return t.state.Load()&closedBit != 0 }
