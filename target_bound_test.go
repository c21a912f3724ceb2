package workers_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// shapely is an RpcTarget without generated code, with methods of shapes
// package shim binds (the first group) and of shapes it does not (the
// second), which reflection calls.
type shapely struct {
	workers.RpcTarget
	kept []int
}

var errShapely = errors.New("shapely failed")

func (s *shapely) Add(a, b int) int { return a + b }
func (s *shapely) Greet(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errShapely
	}
	return "hello " + name + " at depth " + itoa(ctx.(*workers.Ctx).Depth()), nil
}
func (s *shapely) Boom() int { panic("shapely boom") }
func (s *shapely) Keep(v any) any {
	if xs, ok := v.([]int); ok {
		xs[0] = -1 // the callee's copy: the caller's slice stays as it was
		s.kept = xs
	}
	return v
}
func (s *shapely) Nothing() {}

func (s *shapely) Sum(a, b, c int) int                     { return a + b + c }
func (s *shapely) Join(sep string, parts ...string) string { return strings.Join(parts, sep) }
func (s *shapely) Mid(p spot) spot                         { return spot{X: p.X / 2, Y: p.Y / 2} }
func (s *shapely) Narrow(x int8) int8                      { return x * 2 }
func (s *shapely) Boom3(a, b, c int) (int, error)          { panic("shapely boom3") }
func (s *shapely) Add8(a, b int8) int8                     { return a + b }

type spot struct{ X, Y int }

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

type shapelyMaker struct{ workers.Entrypoint }

func (w *shapelyMaker) Make() *shapely { return &shapely{} }

func shapelyStub(t *testing.T) *workers.Stub {
	t.Helper()
	reg := newRegistry(t, workers.WithLogger(slog.New(slog.DiscardHandler))) // panics are logged
	register(t, reg, "shapely", workers.Worker{Default: workers.New[shapelyMaker]()})
	s, err := workers.Call[*workers.Stub](t.Context(), bind(reg, "shapely"), "Make")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// Each method, of a shape package shim binds or not, keeps every rule of a
// call on the first call (by reflection) and on later ones (bound, for the
// shapes it binds).
func TestTargetMethodsOfEveryShape(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		method string
		args   []any
		want   any
		err    error  // errors.Is
		msg    string // in the error
		panics string // a *PanicError's value
	}{
		{name: "bound", method: "Add", args: []any{40, 2}, want: 42},
		{name: "bound converts exactly", method: "Add", args: []any{int8(40), uint16(2)}, want: 42},
		{name: "bound refuses an inexact number", method: "Add", args: []any{1.5, 2}, err: workers.ErrInvalidArgument, msg: "argument 0"},
		{name: "bound refuses a wrong count", method: "Add", args: []any{1}, err: workers.ErrInvalidArgument, msg: "got 1 arguments, want 2"},
		{name: "bound with ctx", method: "Greet", args: []any{"go"}, want: "hello go at depth 1"},
		{name: "bound error identity", method: "Greet", args: []any{""}, err: errShapely},
		{name: "bound panic", method: "Boom", panics: "shapely boom"},
		{name: "bound no result", method: "Nothing"},
		{name: "bound any", method: "Keep", args: []any{"s"}, want: "s"},
		{name: "bound nil any", method: "Keep", args: []any{nil}, want: nil},
		{name: "reflection three params", method: "Sum", args: []any{1, 2, 3}, want: 6},
		{name: "reflection variadic", method: "Join", args: []any{"-", "a", "b"}, want: "a-b"},
		{name: "reflection struct", method: "Mid", args: []any{spot{4, 6}}, want: spot{2, 3}},
		{name: "reflection narrow", method: "Narrow", args: []any{21}, want: int8(42)},
		{name: "reflection narrow refuses", method: "Narrow", args: []any{300}, err: workers.ErrInvalidArgument, msg: "not exactly representable"},
		{name: "reflection panic", method: "Boom3", args: []any{1, 2, 3}, panics: "shapely boom3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := shapelyStub(t)
			for call := range 3 {
				got, err := s.Call(ctx, tc.method, tc.args...)
				switch {
				case tc.panics != "":
					var pe *workers.PanicError
					require.ErrorAs(t, err, &pe, "call %d", call)
					assert.Equal(t, tc.panics, pe.Value, "call %d", call)
				case tc.err != nil:
					require.ErrorIs(t, err, tc.err, "call %d", call)
					assert.Contains(t, err.Error(), tc.msg, "call %d", call)
				default:
					require.NoError(t, err, "call %d", call)
					assert.Equal(t, tc.want, got, "call %d", call)
				}
			}
		})
	}
}

// A bound call copies its arguments as any call does, and a nested call
// from a bound method with a context sees the invocation's depth.
func TestTargetBoundCallCopiesArguments(t *testing.T) {
	s := shapelyStub(t)
	for call := range 3 {
		xs := []int{1, 2}
		got, err := s.Call(t.Context(), "Keep", xs)
		require.NoError(t, err, "call %d", call)
		assert.Equal(t, []int{1, 2}, xs, "call %d: the caller's slice", call)
		assert.Equal(t, []int{-1, 2}, got, "call %d: the callee's copy, copied back", call)
		got.([]int)[1] = 99
	}
}

// From a target's second call on, a method of a common shape is called
// through a shim bound to the target, not reflect.Value.Call: a call then
// makes at least two allocations fewer than a call of the same arity on a
// shape no shim takes, which reflect.Value.Call makes: its argument and
// result slices and the result (small ints are not boxed).
func TestTargetBoundCallAllocations(t *testing.T) {
	s := shapelyStub(t)
	ctx := context.Background()
	for range 2 {
		_, err := s.Call(ctx, "Add", 1, 2)
		require.NoError(t, err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Call(ctx, "Add", 1, 2); err != nil {
			panic(err)
		}
	})
	reflected := testing.AllocsPerRun(200, func() {
		if _, err := s.Call(ctx, "Add8", int8(1), int8(2)); err != nil {
			panic(err)
		}
	})
	assert.GreaterOrEqual(t, reflected, allocs+2, "a bound call allocates less than one by reflection: %v against %v", allocs, reflected)
}
