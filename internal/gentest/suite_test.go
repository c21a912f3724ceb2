package gentest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/codegen"
	"github.com/seed-29c11ff2/workers/internal/gentest"
	"github.com/seed-29c11ff2/workers/internal/gentest/plain"
	"github.com/seed-29c11ff2/workers/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// caller is one way to call Calc: by name through a Binding, or through the
// generated typed client.
type caller func(ctx context.Context, method string, args ...any) (any, error)

type path struct {
	name  string
	typed bool // the generated client: no by-name conversions, no unsupported shapes
	make  func(t *testing.T, props any) caller
}

func register(t *testing.T, code workers.Constructor, props any) *workers.Binding {
	t.Helper()
	reg := workers.NewRegistry()
	require.NoError(t, reg.Register("calc", workers.Worker{Default: code}))
	t.Cleanup(func() { require.NoError(t, reg.Close(context.Background())) })
	return reg.Bind(workers.Service{Service: "calc", Props: props})
}

// paths are the three ways a call can go: the semantics must not differ.
var paths = []path{
	{name: "reflective", make: func(t *testing.T, props any) caller {
		return register(t, workers.New[plain.Calc](), props).Call
	}},
	{name: "generated dispatcher", make: func(t *testing.T, props any) caller {
		return register(t, workers.New[gentest.Calc](), props).Call
	}},
	{name: "typed client", typed: true, make: func(t *testing.T, props any) caller {
		return typedCaller(gentest.NewCalcClient(register(t, workers.New[gentest.Calc](), props)))
	}},
	{name: "typed client with a NewFunc constructor", typed: true, make: func(t *testing.T, props any) caller {
		ctor := workers.NewFunc(func() *gentest.Calc { return &gentest.Calc{} })
		return typedCaller(gentest.NewCalcClient(register(t, ctor, props)))
	}},
}

// typedCaller adapts the typed client to a caller, method by method.
func typedCaller(c *gentest.CalcClient) caller {
	return func(ctx context.Context, method string, a ...any) (any, error) {
		switch method {
		case "Add":
			return c.Add(ctx, a[0].(int), a[1].(int))
		case "Sum":
			xs := make([]int, len(a))
			for i := range a {
				xs[i] = a[i].(int)
			}
			return c.Sum(ctx, xs...)
		case "Join":
			parts := make([]string, len(a)-1)
			for i := range parts {
				parts[i] = a[i+1].(string)
			}
			return c.Join(ctx, a[0].(string), parts...)
		case "Sqrt":
			return c.Sqrt(ctx, a[0].(float64))
		case "Move":
			return c.Move(ctx, a[0].(gentest.Point), a[1].(int))
		case "Mutate":
			return nil, c.Mutate(ctx, a[0].(*gentest.Point), a[1].([]int), a[2].(map[string]int))
		case "Held":
			return c.Held(ctx)
		case "Greeting":
			return c.Greeting(ctx, a[0].(string))
		case "Props":
			return c.Props(ctx)
		case "Depth":
			return c.Depth(ctx)
		case "Count":
			return c.Count(ctx)
		case "Fail":
			return nil, c.Fail(ctx)
		case "Panic":
			return nil, c.Panic(ctx)
		case "Nothing":
			return nil, c.Nothing(ctx)
		case "Apply":
			return c.Apply(ctx, a[0].(func(int) int), a[1].(int))
		case "Lookup":
			return c.Lookup(ctx, a[0].(map[string][]int), a[1].(string))
		case "Deep":
			return c.Deep(ctx, a[0].(int))
		case "Background":
			return nil, c.Background(ctx, a[0].(func()))
		}
		panic("typedCaller: no method " + method)
	}
}

func TestSamePathsSameSemantics(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			call := p.make(t, map[string]any{"role": "admin", "list": []any{"a"}})

			t.Run("results", func(t *testing.T) {
				tests := []struct {
					method string
					args   []any
					want   any
				}{
					{"Add", []any{2, 3}, 5},
					{"Sum", []any{1, 2, 3}, 6},
					{"Sum", nil, 0},
					{"Join", []any{"-", "a", "b"}, "a-b"},
					{"Join", []any{"-"}, ""},
					{"Sqrt", []any{16.0}, 4.0},
					{"Depth", nil, 1},
					{"Greeting", []any{"bob"}, "hello bob"},
				}
				for _, tt := range tests {
					got, err := call(ctx, tt.method, tt.args...)
					require.NoError(t, err, tt.method)
					assert.Equal(t, tt.want, got, "%s%v", tt.method, tt.args)
				}
			})

			t.Run("no result", func(t *testing.T) {
				got, err := call(ctx, "Nothing")
				assert.NoError(t, err)
				assert.Nil(t, got)
			})

			t.Run("fresh instance per call", func(t *testing.T) {
				for range 3 {
					n, err := call(ctx, "Count")
					require.NoError(t, err)
					assert.Equal(t, 1, n)
				}
			})

			t.Run("ctx values reach the method", func(t *testing.T) {
				got, err := call(gentest.WithGreeting(ctx, "hi"), "Greeting", "ann")
				require.NoError(t, err)
				assert.Equal(t, "hi ann", got)
			})

			t.Run("props are a copy per invocation", func(t *testing.T) {
				got, err := call(ctx, "Props")
				require.NoError(t, err)
				props := got.(map[string]any)
				assert.Equal(t, map[string]any{"role": "admin", "list": []any{"a"}}, props)
				props["role"] = "changed"
				props["list"].([]any)[0] = "changed"
				again, err := call(ctx, "Props")
				require.NoError(t, err)
				assert.Equal(t, map[string]any{"role": "admin", "list": []any{"a"}}, again)
			})

			t.Run("arguments are copies", func(t *testing.T) {
				pt := &gentest.Point{X: 1, Tags: []string{"x"}}
				xs := []int{1, 2}
				kv := map[string]int{"k": 1}
				_, err := call(ctx, "Mutate", pt, xs, kv)
				require.NoError(t, err)
				assert.Equal(t, 1, pt.X)
				assert.Equal(t, []int{1, 2}, xs)
				assert.Equal(t, map[string]int{"k": 1}, kv)

				in := gentest.Point{X: 1, Tags: make([]string, 1, 8)}
				in.Tags[0] = "x"
				got, err := call(ctx, "Move", in, 3)
				require.NoError(t, err)
				assert.Equal(t, gentest.Point{X: 4, Tags: []string{"x", "moved"}}, got)
				assert.Equal(t, []string{"x"}, in.Tags)
				assert.Equal(t, "x", in.Tags[:2][0])
				assert.Equal(t, "", in.Tags[:2][1], "the callee's append must not write into the caller's array")
			})

			t.Run("results are copies", func(t *testing.T) {
				got, err := call(ctx, "Held")
				require.NoError(t, err)
				got.([]int)[0] = 99
				assert.Equal(t, []int{1, 2, 3}, gentest.Shared)

				m := map[string][]int{"a": {1}}
				got, err = call(ctx, "Lookup", m, "a")
				require.NoError(t, err)
				got.([]int)[0] = 99
				assert.Equal(t, []int{1}, m["a"])
			})

			t.Run("funcs pass by reference", func(t *testing.T) {
				calls := 0
				got, err := call(ctx, "Apply", func(x int) int { calls++; return x * 2 }, 21)
				require.NoError(t, err)
				assert.Equal(t, 42, got)
				assert.Equal(t, 1, calls)
			})

			t.Run("errors keep identity", func(t *testing.T) {
				_, err := call(ctx, "Fail")
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
				_, err = call(ctx, "Sqrt", -4.0)
				assert.ErrorIs(t, err, gentest.ErrNegative)
				var ne *gentest.NegativeError
				require.ErrorAs(t, err, &ne)
				assert.Equal(t, -4.0, ne.Value)
			})

			t.Run("panics become PanicError", func(t *testing.T) {
				_, err := call(ctx, "Panic")
				var pe *workers.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "boom", pe.Value)
				assert.NotEmpty(t, pe.Stack)
				got, err := call(ctx, "Add", 1, 1)
				require.NoError(t, err, "the registry keeps working after a panic")
				assert.Equal(t, 2, got)
			})

			t.Run("canceled ctx: not invoked", func(t *testing.T) {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				calls := 0
				_, err := call(cctx, "Apply", func(x int) int { calls++; return x }, 1)
				assert.ErrorIs(t, err, context.Canceled)
				assert.Zero(t, calls)
			})

			if p.typed {
				return
			}
			t.Run("by-name only: conversions and shapes", func(t *testing.T) {
				got, err := call(ctx, "Add", int64(20), uint8(22))
				require.NoError(t, err)
				assert.Equal(t, 42, got)
				_, err = call(ctx, "Add", 1.5, 1)
				assert.ErrorIs(t, err, workers.ErrInvalidArgument)
				_, err = call(ctx, "Add", "1", 1)
				assert.ErrorIs(t, err, workers.ErrInvalidArgument)
				_, err = call(ctx, "Add", 1)
				assert.ErrorIs(t, err, workers.ErrInvalidArgument)
				_, err = call(ctx, "Bad")
				assert.ErrorIs(t, err, workers.ErrMethodNotFound)
				assert.ErrorContains(t, err, "second result is int, not error")
				_, err = call(ctx, "Fetch")
				assert.ErrorIs(t, err, workers.ErrReservedMethod)
				_, err = call(ctx, "add", 1, 2)
				assert.ErrorContains(t, err, `Did you mean "Add"?`)
			})
		})
	}
}

// The typed client falls back to Binding.Call when the binding's target is
// not a local Calc, and reports that call's error.
func TestTypedClientFallsBack(t *testing.T) {
	reg := workers.NewRegistry()
	require.NoError(t, reg.Register("plain", workers.Worker{Default: workers.New[plain.Calc]()}))
	defer reg.Close(context.Background())

	c := gentest.NewCalcClient(reg.Bind(workers.Service{Service: "plain"}))
	got, err := c.Add(context.Background(), 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 5, got)

	// A worker of another type with the same method: the call must reach
	// it, not run Calc's Add in the client.
	require.NoError(t, reg.Register("multiplier", workers.Worker{Default: workers.New[multiplier]()}))
	other := gentest.NewCalcClient(reg.Bind(workers.Service{Service: "multiplier"}))
	got, err = other.Add(context.Background(), 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 6, got, "the client ran Calc.Add itself")

	missing := gentest.NewCalcClient(reg.Bind(workers.Service{Service: "nope"}))
	_, err = missing.Add(context.Background(), 2, 3)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
}

// multiplier has an Add that is not Calc's.
type multiplier struct{ workers.Entrypoint }

func (w *multiplier) Add(a, b int) int { return a * b }

// Stale generated code, whose hash no longer matches its type's methods,
// is refused at Register with a message that says what to do.
func TestStaleDispatcherRefused(t *testing.T) {
	type Stale struct {
		workers.Entrypoint
		gentest.Methods
	}
	codegen.Register(codegen.Dispatcher[Stale]{Hash: "0000000000000000"})
	err := workers.NewRegistry().Register("stale", workers.Worker{Default: workers.New[Stale]()})
	require.ErrorIs(t, err, workers.ErrInvalidWorker)
	assert.ErrorContains(t, err, "stale")
	assert.ErrorContains(t, err, "go generate")
}

func TestDepthLimitSameOnEveryPath(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			call := p.make(t, nil)
			var ctx context.Context = context.Background()
			ctx = transport.WithDepth(ctx, workers.DefaultMaxDepth-1)
			got, err := call(ctx, "Depth")
			require.NoError(t, err)
			assert.Equal(t, workers.DefaultMaxDepth, got)

			ctx = transport.WithDepth(context.Background(), workers.DefaultMaxDepth)
			_, err = call(ctx, "Depth")
			assert.True(t, errors.Is(err, workers.ErrDepthExceeded), "got %v", err)
		})
	}
}

// A call whose stack grows (and moves) while it runs, and one that leaves
// work behind with WaitUntil, must both be accounted for: Close returns
// once they are done, on every path.
func TestCallsAccountedForOnEveryPath(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			reg := workers.NewRegistry()
			code := workers.New[gentest.Calc]()
			if p.name == "reflective" {
				code = workers.New[plain.Calc]()
			}
			require.NoError(t, reg.Register("calc", workers.Worker{Default: code}))
			var call caller = reg.Bind(workers.Service{Service: "calc"}).Call
			if p.typed {
				call = typedCaller(gentest.NewCalcClient(reg.Bind(workers.Service{Service: "calc"})))
			}
			got, err := call(t.Context(), "Deep", 20000)
			require.NoError(t, err)
			assert.Equal(t, 0, got)

			release := make(chan struct{})
			finished := make(chan struct{})
			_, err = call(t.Context(), "Background", func() {
				<-release
				close(finished)
			})
			require.NoError(t, err)
			close(release)

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			require.NoError(t, reg.Close(ctx), "Close must not wait for a call that ended")
			select {
			case <-finished:
			default:
				t.Fatal("Close returned before the WaitUntil task finished")
			}
		})
	}
}
