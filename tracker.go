package workers

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// tracker counts in-flight calls and WaitUntil tasks so that Close can wait
// for them. The count is spread over padded shards, picked from the address
// of the invocation, so that calls on different cores do not fight over one
// cache line; Close, which is rare, adds the shards up.
type tracker struct {
	shards   [trackerShards]shard
	closing  atomic.Bool
	idleOnce sync.Once
	idle     chan struct{}
}

const trackerShards = 16

type shard struct {
	n atomic.Int64
	_ [120]byte // a cache line (two on some CPUs) to itself
}

func newTracker() *tracker { return &tracker{idle: make(chan struct{})} }

// shardFor picks a shard for an invocation from the address of its Ctx:
// allocations (and stacks) of different cores lie apart, so the addresses
// spread concurrent calls over shards.
func (t *tracker) shardFor(p unsafe.Pointer) uint16 {
	return uint16((uintptr(p) >> 9) % trackerShards)
}

// begin counts a new call, or reports false once the registry is closing.
func (t *tracker) begin(s *shard) bool {
	s.n.Add(1)
	if t.closing.Load() {
		t.done(s)
		return false
	}
	return true
}

// addTask counts a WaitUntil task. Tasks started by work still in flight are
// taken after Close too; once everything has drained, one is refused.
func (t *tracker) addTask(s *shard) bool {
	s.n.Add(1)
	select {
	case <-t.idle:
		t.done(s)
		return false
	default:
		return true
	}
}

// done ends a call or task. Once closing, the last one to end (which sees
// every other's decrement) signals idle.
func (t *tracker) done(s *shard) {
	s.n.Add(-1)
	if t.closing.Load() && t.sum() == 0 {
		t.idleOnce.Do(func() { close(t.idle) })
	}
}

func (t *tracker) sum() int64 {
	var n int64
	for i := range t.shards {
		n += t.shards[i].n.Load()
	}
	return n
}

// close refuses new calls and returns a channel closed when none is left.
func (t *tracker) close() <-chan struct{} {
	t.closing.Store(true)
	if t.sum() == 0 {
		t.idleOnce.Do(func() { close(t.idle) })
	}
	return t.idle
}

func (t *tracker) closed() bool { return t.closing.Load() }
