// Package gentest holds a worker of many method shapes, twice: Calc here
// with code from workersgen, and plain.Calc without, so that one test suite
// can hold the generated path to the reflective one.
package gentest

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/seed-29c11ff2/workers"
)

//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen

// Calc is the worker with generated code.
type Calc struct {
	workers.Entrypoint
	Methods
}

// Point is a struct argument that must be copied.
type Point struct {
	X, Y int
	Tags []string
}

// ErrNegative is returned by Sqrt for negative input.
var ErrNegative = errors.New("negative")

// NegativeError is a custom error type, for errors.As across a call.
type NegativeError struct{ Value float64 }

func (e *NegativeError) Error() string { return "negative input" }

// Shared is data the callee holds; a caller that changes a result must not
// change it.
var Shared = []int{1, 2, 3}

// Methods are the RPC methods, promoted into both Calc types.
type Methods struct {
	calls int
}

func (m *Methods) Add(a, b int) int { return a + b }

func (m *Methods) Sum(xs ...int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func (m *Methods) Join(sep string, parts ...string) string { return strings.Join(parts, sep) }

func (m *Methods) Sqrt(x float64) (float64, error) {
	if x < 0 {
		return 0, errors.Join(ErrNegative, &NegativeError{Value: x})
	}
	r := x
	for range 30 {
		if r == 0 {
			break
		}
		r = (r + x/r) / 2
	}
	return r, nil
}

func (m *Methods) Move(p Point, dx int) Point {
	p.X += dx
	p.Tags = append(p.Tags, "moved")
	return p
}

func (m *Methods) Mutate(p *Point, xs []int, kv map[string]int) {
	p.X = -1
	xs[0] = -1
	kv["k"] = -1
}

func (m *Methods) Held() []int { return Shared }

func (m *Methods) Greeting(ctx context.Context, name string) (string, error) {
	if v, ok := ctx.Value(key{}).(string); ok {
		return v + " " + name, nil
	}
	return "hello " + name, nil
}

func (m *Methods) Props(ctx context.Context) any { return ctx.(*workers.Ctx).Props() }

func (m *Methods) Depth(ctx context.Context) int { return ctx.(*workers.Ctx).Depth() }

func (m *Methods) Count() int { m.calls++; return m.calls }

func (m *Methods) Fail() error { return io.ErrUnexpectedEOF }

func (m *Methods) Panic() { panic("boom") }

func (m *Methods) Nothing() {}

func (m *Methods) Apply(f func(int) int, x int) int { return f(x) }

func (m *Methods) Lookup(kv map[string][]int, k string) []int { return kv[k] }

func (m *Methods) Bad() (int, int) { return 1, 2 }

type key struct{}

// WithGreeting puts a greeting in ctx for Greeting.
func WithGreeting(ctx context.Context, greeting string) context.Context {
	return context.WithValue(ctx, key{}, greeting)
}

// Deep recurses n levels with a large frame, growing (and so moving) the
// goroutine's stack during the call.
func (m *Methods) Deep(n int) int { return deep(n) }

func deep(n int) int {
	var frame [256]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return int(frame[0])
	}
	return deep(n-1) + int(frame[n%len(frame)]) - n%256
}

// Background finishes its work after the call returns, through WaitUntil.
func (m *Methods) Background(ctx context.Context, done func()) {
	ctx.(*workers.Ctx).WaitUntil(func(context.Context) error {
		done()
		return nil
	})
}
