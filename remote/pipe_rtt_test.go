package remote_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// delayProxy is a loopback TCP proxy that delivers every byte it carries
// delay after it read it, in each direction: a network whose one-way delay
// is delay, and whose round trip (RTT) is 2*delay, whatever is sent.
type delayProxy struct {
	ln    net.Listener
	to    string
	delay time.Duration
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newDelayProxy(t *testing.T, to string, delay time.Duration) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &delayProxy{ln: ln, to: to, delay: delay}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *delayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { p.pump(s, c) })
		p.wg.Go(func() { p.pump(c, s) })
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

// pump copies from src to dst, each chunk delay after it was read; chunks
// read meanwhile wait in order, so the delay does not add up.
func (p *delayProxy) pump(dst, src net.Conn) {
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.data); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{at: time.Now().Add(p.delay), data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_, _ = io.Copy(io.Discard, src)
	}
}

func (p *delayProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// The proof of pipelining: with a network delay of 100 ms each way (one
// delay = 100 ms added to every byte in one direction; a round trip, RTT,
// is two delays, 200 ms), a chain of three dependent calls made with Pipe
// takes one round trip, while the same three calls made one after another,
// each waiting for the result it calls next, take three. The client speaks
// h2c through the proxy, on a session warmed up first. The bounds are
// generous (under 1.75 RTT piped; at least 3 RTT unpiped, which no machine
// can beat) so that a loaded CI machine does not make the test flaky.
func TestRemotePipeRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a second")
	}
	const delay = 100 * time.Millisecond
	const rtt = 2 * delay
	reg, _ := chainRegistry(t)
	base := serve(t, reg, remote.InsecureAllowAll(), linkKnown)
	proxy := newDelayProxy(t, base[len("http://"):], delay)
	caller := dial(t, "http://"+proxy.ln.Addr().String(), []string{"chain"}, linkKnown)
	b := caller.Bind(workers.Service{Service: "chain"})
	ctx := t.Context()
	_, err := workers.Call[int](ctx, b, "Number") // opens the session
	require.NoError(t, err)

	start := time.Now()
	root := workers.Pipe(ctx, b, "Root", 0)
	next := workers.Pipe(ctx, root, "Next")
	depth, err := workers.Call[int](ctx, next, "Depth")
	piped := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, 1, depth)
	require.NoError(t, next.Close())
	require.NoError(t, root.Close())

	start = time.Now()
	r, err := workers.Call[*workers.Stub](ctx, b, "Root", 0)
	require.NoError(t, err)
	n, err := workers.Call[*workers.Stub](ctx, r, "Next")
	require.NoError(t, err)
	depth, err = workers.Call[int](ctx, n, "Depth")
	unpiped := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, 1, depth)
	require.NoError(t, n.Close())
	require.NoError(t, r.Close())

	t.Logf("three dependent calls, RTT %v: piped %v (%.2f RTT), one after another %v (%.2f RTT)",
		rtt, piped.Round(time.Millisecond), float64(piped)/float64(rtt), unpiped.Round(time.Millisecond), float64(unpiped)/float64(rtt))
	assert.Less(t, piped, rtt*7/4, "a piped chain of three calls costs one round trip")
	assert.GreaterOrEqual(t, unpiped, 3*rtt, "three calls one after another cost three round trips")
}
