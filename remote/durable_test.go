package remote_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
	"github.com/seed-29c11ff2/workers/transport"
)

// Ledger is a Durable Object class hosted by the serving process.
type Ledger struct {
	workers.DurableObject
	n int // in memory, checked against storage: overlapping calls would disagree
}

var (
	ledgersBuilt atomic.Int32
	errLocked    = errors.New("ledger: locked")
	ledgerErrors = remote.WithErrors(remote.Sentinel("ledger.locked", errLocked))
)

func newLedger() *Ledger {
	ledgersBuilt.Add(1)
	return &Ledger{}
}

// Add is a read-modify-write of storage and memory that yields halfway:
// two calls that overlapped would lose an increment or disagree.
func (l *Ledger) Add(ctx context.Context, by int) (int, error) {
	st := l.State.Storage()
	n, _, err := workers.StorageGet[int](ctx, st, "n")
	if err != nil {
		return 0, err
	}
	if n != l.n {
		return 0, fmt.Errorf("storage says %d, memory %d", n, l.n)
	}
	time.Sleep(200 * time.Microsecond)
	n += by
	if err := st.Put(ctx, "n", n); err != nil {
		return 0, err
	}
	l.n = n
	return n, nil
}

func (l *Ledger) Get(ctx context.Context) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, l.State.Storage(), "n")
	return n, err
}

func (l *Ledger) ID() string { return l.State.ID().String() }

func (l *Ledger) Lock() error { return fmt.Errorf("ledger %s: %w", l.State.ID(), errLocked) }

func (l *Ledger) Wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (l *Ledger) Panic() { panic("ledger boom") }

func (l *Ledger) Tally(start int) *Tally { return &Tally{n: start} }

func (l *Ledger) Alarm(ctx context.Context) error { return nil }

// LedgerFront is a worker of a calling process with a namespace hosted by the
// serving process.
type LedgerFront struct{ workers.Entrypoint }

func (w *LedgerFront) Add(ctx context.Context, name string, by int) (int, error) {
	return workers.Call[int](ctx, w.Env.DurableObject("LEDGER").GetByName(name), "Add", by)
}

func (w *LedgerFront) IDOf(name string) string {
	return w.Env.DurableObject("LEDGER").IDFromName(name).String()
}

// ledgerHost serves worker "ledgers", which hosts class Ledger, to
// credentials with various rules, and returns its base URL and registry.
func ledgerHost(t *testing.T) (string, *workers.Registry) {
	t.Helper()
	host := newRegistry(t, workers.WithStateDir(t.TempDir()))
	require.NoError(t, host.Register("ledgers", workers.Worker{
		Default:        workers.New[Calc](),
		DurableObjects: map[string]workers.Constructor{"Ledger": workers.NewFunc(newLedger)},
	}))
	base := serve(t, host,
		remote.AllowToken("a", remote.Allow{Service: "ledgers", Class: "Ledger"}),
		remote.AllowToken("b", remote.Allow{Service: "*", Class: "*"}),
		remote.AllowToken("entrypoints", remote.Allow{Service: "*", Entrypoint: "*"}),
		remote.AllowToken("reader", remote.Allow{Service: "ledgers", Class: "Ledger", Methods: []string{"Get"}}),
		remote.AllowToken("other", remote.Allow{Service: "ledgers", Class: "Other"}),
		ledgerErrors)
	return base, host
}

// ledgerCaller is a calling process: its own registry and Transport with
// token, worker "front" with the namespace binding LEDGER to the host's
// class. It returns front's binding and the namespace.
func ledgerCaller(t *testing.T, base, token string) (*workers.Binding, *workers.DurableObjectNamespace) {
	t.Helper()
	reg := newRegistry(t)
	require.NoError(t, remote.Register(reg, "ledgers", base, remote.WithBearerToken(token), ledgerErrors))
	require.NoError(t, reg.Register("front", workers.Worker{
		Default:               workers.New[LedgerFront](),
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "LEDGER", ClassName: "Ledger", ScriptName: "ledgers"}},
	}))
	require.NoError(t, reg.Validate())
	return reg.Bind(workers.Service{Service: "front"}), reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Ledger"})
}

// Two calling processes (two registries, two Transports, two credentials)
// increment one object concurrently: its calls never overlap and every
// increment counts; another ID is another object; both sides make the
// same ID of a name.
func TestDurableObjectRemoteOneObjectPerID(t *testing.T) {
	const each = 25
	base, host := ledgerHost(t)
	frontA, nsA := ledgerCaller(t, base, "a")
	frontB, nsB := ledgerCaller(t, base, "b")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []int
	var errs []error
	for _, front := range []*workers.Binding{frontA, frontB} {
		for range each {
			wg.Go(func() {
				n, err := workers.Call[int](ctx, front, "Add", "shared", 1)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				got = append(got, n)
			})
		}
	}
	for range 3 {
		_, err := workers.Call[int](ctx, nsB.GetByName("other"), "Add", 10)
		require.NoError(t, err)
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	sort.Ints(got)
	want := make([]int, 2*each)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, got, "each increment saw the one before")

	n, err := workers.Call[int](ctx, nsA.GetByName("shared"), "Get")
	require.NoError(t, err)
	assert.Equal(t, 2*each, n)
	n, err = workers.Call[int](ctx, nsA.GetByName("other"), "Get")
	require.NoError(t, err)
	assert.Equal(t, 30, n, "another ID, another object")

	// The host's own namespace sees what the callers did.
	hostNS := host.BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Ledger"})
	n, err = workers.Call[int](ctx, hostNS.GetByName("shared"), "Get")
	require.NoError(t, err)
	assert.Equal(t, 2*each, n)

	id := hostNS.IDFromName("shared").String()
	for _, front := range []*workers.Binding{frontA, frontB} {
		s, err := workers.Call[string](ctx, front, "IDOf", "shared")
		require.NoError(t, err)
		assert.Equal(t, id, s, "IDFromName is the same on both sides")
	}
	s, err := workers.Call[string](ctx, nsB.GetByName("shared"), "ID")
	require.NoError(t, err)
	assert.Equal(t, id, s, "the object knows the ID it was called by")

	// A unique ID made by a caller, and read back from its string.
	uid := nsA.NewUniqueID()
	s, err = workers.Call[string](ctx, nsA.Get(uid), "ID")
	require.NoError(t, err)
	assert.Equal(t, uid.String(), s)
	back, err := nsB.IDFromString(uid.String())
	require.NoError(t, err)
	n, err = workers.Call[int](ctx, nsB.Get(back), "Add", 7)
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	n, err = workers.Call[int](ctx, hostNS.Get(back), "Get")
	require.NoError(t, err)
	assert.Equal(t, 7, n)
}

// A call of a remote object keeps the rules of every call: errors with
// their identity, panics, deadlines, RpcTarget results by reference,
// reserved and missing methods, bad arguments.
func TestDurableObjectRemoteCallRules(t *testing.T) {
	base, _ := ledgerHost(t)
	_, ns := ledgerCaller(t, base, "a")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj := ns.GetByName("rules")

	_, err := obj.Call(ctx, "Lock")
	assert.ErrorIs(t, err, errLocked)
	assert.Contains(t, err.Error(), ns.IDFromName("rules").String())

	_, err = obj.Call(ctx, "Panic")
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, fmt.Sprint(pe.Value), "ledger boom")

	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err = obj.Call(short, "Wait")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)

	tally, err := workers.Call[*workers.Stub](ctx, obj, "Tally", 40)
	require.NoError(t, err)
	n, err := workers.Call[int](ctx, tally, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 42, n, "the RpcTarget stays in the host, called by reference")
	require.NoError(t, tally.Close())

	_, err = obj.Call(ctx, "Alarm")
	assert.ErrorIs(t, err, workers.ErrReservedMethod)
	_, err = obj.Call(ctx, "Nope")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	_, err = obj.Call(ctx, "Add", "one")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	_, err = obj.Call(ctx, "Add", make(chan int))
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)

	_, err = ns.Get(workers.DurableObjectID{}).Call(ctx, "Get")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument, "the zero ID")
	other := newRegistry(t).BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Other"})
	_, err = ns.Get(other.IDFromName("x")).Call(ctx, "Get")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument, "an ID of another namespace")
	_, err = newRegistry(t).BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Ledger"}).GetByName("x").Call(ctx, "Get")
	assert.ErrorIs(t, err, workers.ErrServiceNotFound, "a registry without the remote worker")
}

// The handler holds Durable Object calls to the credential's Allow rules:
// a credential without a rule for the class is refused before any object
// is reached (none is built); one limited to some methods may call only
// those. A class the host does not export is ErrNamespaceNotFound.
func TestDurableObjectRemoteAllow(t *testing.T) {
	base, _ := ledgerHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	built := ledgersBuilt.Load()
	for _, token := range []string{"entrypoints", "other", "reader"} {
		_, ns := ledgerCaller(t, base, token)
		_, err := ns.GetByName("guarded-"+token).Call(ctx, "Add", 1)
		assert.ErrorIs(t, err, remote.ErrPermissionDenied, token)
		assert.Contains(t, err.Error(), `durable object class "Ledger"`, token)
	}
	assert.Equal(t, built, ledgersBuilt.Load(), "a refused call reaches no object")

	_, reader := ledgerCaller(t, base, "reader")
	n, err := workers.Call[int](ctx, reader.GetByName("guarded"), "Get")
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	reg := newRegistry(t)
	require.NoError(t, remote.Register(reg, "ledgers", base, remote.WithBearerToken("b")))
	missing := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Missing"})
	_, err = missing.GetByName("x").Call(ctx, "Get")
	assert.ErrorIs(t, err, workers.ErrNamespaceNotFound)
}

// IDs from a peer are checked: a malformed one, or one of another
// namespace, is ErrInvalidArgument naming the ID, and reaches no object.
func TestDurableObjectRemoteChecksIDs(t *testing.T) {
	base, _ := ledgerHost(t)
	tr := remote.NewTransport(base, remote.WithBearerToken("b"))
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other := newRegistry(t).BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Other"})
	built := ledgersBuilt.Load()
	for _, tc := range []struct{ id, want string }{
		{"", "want 64 hex digits, got 0 characters"},
		{"xyz", "want 64 hex digits, got 3 characters"},
		{fmt.Sprintf("%064d", 0), "the zero ID"},
		{fmt.Sprintf("%063dz", 1), "want 64 hex digits"},
		{other.IDFromName("x").String(), "another namespace"},
	} {
		_, err := tr.CallDurableObject(ctx, &transport.Call{Service: "ledgers", Class: "Ledger", Object: tc.id, Method: "Get", Depth: 1})
		assert.ErrorIs(t, err, workers.ErrInvalidArgument, tc.id)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), tc.want, tc.id)
		}
	}
	assert.Equal(t, built, ledgersBuilt.Load(), "no object was reached")
}
