package workers

import (
	"sync"
	"sync/atomic"
)

// tracker counts in-flight calls and WaitUntil tasks so that Close can wait
// for them. Closing sets a bit in the count, so a call learns it from the
// one atomic add it makes anyway.
type tracker struct {
	n        atomic.Int64 // in flight, with closedBit once closing
	idleOnce sync.Once
	idle     chan struct{}
}

const closedBit = int64(1) << 62

func newTracker() *tracker { return &tracker{idle: make(chan struct{})} }

// begin counts a new call, or reports false once the registry is closing.
func (t *tracker) begin() bool {
	if t.n.Add(1)&closedBit == 0 {
		return true
	}
	t.done()
	return false
}

// addTask counts a WaitUntil task. Tasks started by work still in flight are
// taken after Close too; once everything has drained, one is refused.
func (t *tracker) addTask() bool {
	t.n.Add(1)
	select {
	case <-t.idle:
		t.done()
		return false
	default:
		return true
	}
}

// done ends a call or task; the last to end after Close signals idle.
func (t *tracker) done() {
	if t.n.Add(-1) == closedBit {
		t.idleOnce.Do(func() { close(t.idle) })
	}
}

// close refuses new calls and returns a channel closed when none is left.
func (t *tracker) close() <-chan struct{} {
	if t.n.Or(closedBit)&^closedBit == 0 {
		t.idleOnce.Do(func() { close(t.idle) })
	}
	return t.idle
}

func (t *tracker) closed() bool { return t.n.Load()&closedBit != 0 }

// running returns how many calls and tasks are in flight.
func (t *tracker) running() int64 { return t.n.Load() &^ closedBit }
