package workers

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/cell"
)

// tracker counts in-flight calls and WaitUntil tasks so that Close can wait
// for them. The count is spread over padded shards, picked from the calling
// goroutine's stack address, so that goroutines on different cores do not
// fight over one cache line while one goroutine keeps to one; Close, which
// is rare, adds the shards up. Closing sets a bit in every shard, so a call
// learns it from the one atomic add it makes anyway.
type tracker struct {
	shards   [trackerShards]shard
	idleOnce sync.Once
	idle     chan struct{}
}

const (
	trackerShardBits = 6
	trackerShards    = 1 << trackerShardBits
	closedBit        = int64(1) << 62
)

type shard struct {
	n     atomic.Int64 // in flight, with closedBit once closing
	boxes cell.Boxes   // boxes the results of calls counted here
	_     [112]byte    // a cache line (two on some CPUs) to itself
}

func newTracker() *tracker { return &tracker{idle: make(chan struct{})} }

// shardFor picks the shard of a call made on the stack at p: goroutines
// have stacks of their own, so p names the goroutine, and hashing it
// (Fibonacci hashing, as the stacks' low bits are alike) spreads goroutines
// over the shards. A stack may move while the call runs, so the invocation
// keeps the shard it was given.
func (t *tracker) shardFor(p unsafe.Pointer) uint16 {
	return uint16(uint64(uintptr(p)) * 0x9e3779b97f4a7c15 >> (64 - trackerShardBits))
}

// begin counts a new call, or reports false once the registry is closing.
// It is small enough to inline into every call.
func (t *tracker) begin(s *shard) bool {
	if s.n.Add(1)&closedBit == 0 {
		return true
	}
	t.refused(s)
	return false
}

// refused takes back the count of a call that begin refused. It is kept
// out of line so that begin inlines.
//
//go:noinline
func (t *tracker) refused(s *shard) { t.done(s) }

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

// done ends a call or task. Once closing, whoever empties a shard looks at
// the others; the last to end sees every other's decrement and signals idle.
func (t *tracker) done(s *shard) {
	if s.n.Add(-1) == closedBit {
		t.signalIfIdle()
	}
}

// signalIfIdle closes idle when every shard is closed and empty. Until
// Close has closed them all, a shard may still take calls, so an empty one
// proves nothing: Close looks again itself once it has closed the last.
func (t *tracker) signalIfIdle() {
	for i := range t.shards {
		if t.shards[i].n.Load() != closedBit {
			return
		}
	}
	t.idleOnce.Do(func() { close(t.idle) })
}

// close refuses new calls and returns a channel closed when none is left.
func (t *tracker) close() <-chan struct{} {
	for i := range t.shards {
		t.shards[i].n.Or(closedBit)
	}
	t.signalIfIdle()
	return t.idle
}

func (t *tracker) closed() bool { return t.shards[0].n.Load()&closedBit != 0 }
