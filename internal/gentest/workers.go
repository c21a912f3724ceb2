// Package gentest holds worker types of many method shapes for testing the
// code workersgen writes against the reflective path.
package gentest

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/seed-29c11ff2/workers"
)

//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen

// Point is a struct argument that must be copied.
type Point struct {
	X, Y int
	Tags []string
}

// ErrNegative is returned by Calc.Sqrt for negative input.
var ErrNegative = errors.New("negative")

// Base is a user base type whose methods are promoted to Calc.
type Base struct{}

// Version is promoted from Base.
func (Base) Version() string { return "v1" }

// Calc exercises many method shapes.
type Calc struct {
	workers.Entrypoint
	Base
	calls int
}

func (c *Calc) Add(a, b int) int { return a + b }

func (c *Calc) Sum(xs ...int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func (c *Calc) Join(sep string, parts ...string) string { return strings.Join(parts, sep) }

func (c *Calc) Sqrt(x float64) (float64, error) {
	if x < 0 {
		return 0, ErrNegative
	}
	r := x
	for range 20 {
		r = (r + x/r) / 2
	}
	return r, nil
}

func (c *Calc) Move(p Point, dx int) Point {
	p.X += dx
	p.Tags = append(p.Tags, "moved")
	return p
}

func (c *Calc) Mutate(p *Point) { p.X = -1 }

func (c *Calc) Greeting(ctx context.Context) (string, error) {
	if v, ok := ctx.Value(key{}).(string); ok {
		return "hello " + v, nil
	}
	return "hello", nil
}

func (c *Calc) Props() any { return c.Ctx.Props() }

func (c *Calc) Count() int { c.calls++; return c.calls }

func (c *Calc) Fail() error { return io.ErrUnexpectedEOF }

func (c *Calc) Panic() { panic("boom") }

func (c *Calc) Nothing() {}

func (c *Calc) Apply(f func(int) int, x int) int { return f(x) }

func (c *Calc) Lookup(m map[string][]int, k string) []int { return m[k] }

func (c *Calc) Bad() (int, int) { return 1, 2 }

type key struct{}

// WithName puts a name in ctx for Greeting.
func WithName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, key{}, name)
}
