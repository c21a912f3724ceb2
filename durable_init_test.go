package workers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Loader loads its value from storage in Construct, as a Workers constructor
// does in blockConcurrencyWhile; loaderCtl, by object name, steers it.
type Loader struct {
	workers.DurableObject
	value string
}

type loaderCtl struct {
	inits   atomic.Int32
	started chan struct{} // closed by the first Construct, when set
	release chan struct{} // Construct waits for it, when set
	fail    atomic.Pointer[error]
	panics  atomic.Bool
}

var loaderCtls sync.Map // object name -> *loaderCtl

func ctlOf(name string) *loaderCtl {
	v, _ := loaderCtls.LoadOrStore(name, &loaderCtl{})
	return v.(*loaderCtl)
}

func (l *Loader) Construct(ctx context.Context) error {
	ctl := ctlOf(l.State.ID().Name())
	n := ctl.inits.Add(1)
	if ctl.started != nil && n == 1 {
		close(ctl.started)
	}
	if ctl.release != nil {
		<-ctl.release
	}
	if e := ctl.fail.Load(); e != nil {
		return *e
	}
	if ctl.panics.Load() {
		panic("init boom")
	}
	v, _, err := workers.StorageGet[string](ctx, l.State.Storage(), "value")
	l.value = fmt.Sprintf("%s|init%d", v, n)
	return err
}

func (l *Loader) Value() string { return l.value }

func (l *Loader) Set(ctx context.Context, v string) error {
	return l.State.Storage().Put(ctx, "value", v)
}

func loaders(t *testing.T, opts ...workers.Option) *workers.DurableObjectNamespace {
	reg := doRegistry(t, opts...)
	register(t, reg, "l", workers.Worker{DurableObjects: map[string]workers.Constructor{"Loader": workers.New[Loader]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "l", ClassName: "Loader"})
}

// callsBehindInit starts Construct through one call of name and n more calls
// while it runs, checks that none returns before release, and returns
// their results once Construct is released.
func callsBehindInit(t *testing.T, ns *workers.DurableObjectNamespace, name string, n int) ([]string, []error) {
	t.Helper()
	ctl := ctlOf(name)
	ctx := context.Background()
	vals, errs := make([]string, n+1), make([]error, n+1)
	var wg sync.WaitGroup
	wg.Go(func() { vals[0], errs[0] = workers.Call[string](ctx, ns.GetByName(name), "Value") })
	select {
	case <-ctl.started:
	case <-time.After(10 * time.Second):
		t.Fatal("Construct did not run")
	}
	var returned atomic.Int32
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			vals[i], errs[i] = workers.Call[string](ctx, ns.GetByName(name), "Value")
			returned.Add(1)
		})
	}
	time.Sleep(30 * time.Millisecond)
	assert.Zero(t, returned.Load(), "a call ran before Construct returned")
	close(ctl.release)
	wg.Wait()
	return vals, errs
}

func TestDurableObjectInit(t *testing.T) {
	errLoad := errors.New("load failed")
	t.Run("calls wait for it", func(t *testing.T) {
		ns := loaders(t)
		ctl := ctlOf(t.Name())
		ctl.started, ctl.release = make(chan struct{}), make(chan struct{})
		vals, errs := callsBehindInit(t, ns, t.Name(), 5)
		require.NoError(t, errors.Join(errs...))
		for _, v := range vals {
			assert.Equal(t, "|init1", v)
		}
		assert.Equal(t, int32(1), ctl.inits.Load(), "Construct runs once per instance")
		_, err := ns.GetByName(t.Name()).Call(context.Background(), "Construct")
		assert.ErrorIs(t, err, workers.ErrReservedMethod)
	})
	t.Run("an error fails the waiting calls; the next call retries", func(t *testing.T) {
		ns := loaders(t)
		ctl := ctlOf(t.Name())
		ctl.started, ctl.release = make(chan struct{}), make(chan struct{})
		ctl.fail.Store(&errLoad)
		_, errs := callsBehindInit(t, ns, t.Name(), 3)
		for i, err := range errs {
			assert.ErrorIs(t, err, errLoad, "call %d", i)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), "Construct: load failed")
				assert.Contains(t, err.Error(), `durable object "Loader"`)
			}
		}
		assert.Equal(t, int32(1), ctl.inits.Load(), "the waiting calls did not run Construct again")
		ctl.fail.Store(nil)
		v, err := workers.Call[string](context.Background(), ns.GetByName(t.Name()), "Value")
		require.NoError(t, err)
		assert.Equal(t, "|init2", v, "a new instance, initialized")
	})
	t.Run("a panic is a PanicError", func(t *testing.T) {
		ns := loaders(t)
		ctl := ctlOf(t.Name())
		ctl.panics.Store(true)
		_, err := ns.GetByName(t.Name()).Call(context.Background(), "Value")
		var pe *workers.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "init boom", pe.Value)
		ctl.panics.Store(false)
		v, err := workers.Call[string](context.Background(), ns.GetByName(t.Name()), "Value")
		require.NoError(t, err)
		assert.Equal(t, "|init2", v)
	})
	t.Run("it runs again after an eviction", func(t *testing.T) {
		ns := loaders(t, workers.WithDurableObjectIdleTimeout(20*time.Millisecond))
		ctl := ctlOf(t.Name())
		s := ns.GetByName(t.Name())
		ctx := context.Background()
		require.NoError(t, errOnly(s.Call(ctx, "Set", "stored")))
		require.Eventually(t, func() bool {
			v, err := workers.Call[string](ctx, s, "Value")
			return err == nil && v == "stored|init2"
		}, 5*time.Second, 30*time.Millisecond, "the rebuilt object loads what the first stored")
		assert.Equal(t, int32(2), ctl.inits.Load())
	})
}

type badInit struct{ workers.DurableObject }

func (b *badInit) Construct() error { return nil }

func TestDurableObjectInitSignature(t *testing.T) {
	err := workers.NewRegistry().Register("b", workers.Worker{DurableObjects: map[string]workers.Constructor{"B": workers.New[badInit]()}})
	require.ErrorIs(t, err, workers.ErrInvalidWorker)
	assert.Contains(t, err.Error(), "must be Construct(ctx context.Context) error")
}
