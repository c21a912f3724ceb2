// Package shim calls methods of common shapes without reflect.Value.Call,
// which costs several hundred nanoseconds a call. [For] turns a method
// expression such as func(*T, int, int) int into a [Func] by a type switch
// over the shapes listed in gen/main.go; any other shape gets nil, and the
// caller falls back to reflection.
package shim

import "context"

//go:generate go run ./gen

// Func calls a method on recv (a *T). ctx is passed when the method takes
// one; args are its arguments, already of the parameter types. It returns
// the method's result (nil when it has none) and its error.
type Func func(recv any, ctx context.Context, args Args) (any, error)

// Args holds the arguments of one call. It is passed by value so that the
// first two arguments, the common case, live on the caller's stack.
type Args struct {
	n    int
	a    [2]any
	rest []any
}

// MakeArgs returns Args holding n arguments, all nil; fill them with Set.
func MakeArgs(n int) Args {
	a := Args{n: n}
	if n > len(a.a) {
		a.rest = make([]any, n-len(a.a))
	}
	return a
}

// Len returns the number of arguments.
func (a Args) Len() int { return a.n }

// At returns argument i.
func (a Args) At(i int) any {
	if i < len(a.a) {
		return a.a[i]
	}
	return a.rest[i-len(a.a)]
}

// Set sets argument i.
func (a *Args) Set(i int, v any) {
	if i < len(a.a) {
		a.a[i] = v
		return
	}
	a.rest[i-len(a.a)] = v
}

// For returns a Func for fn, a method expression of the pointer type P, or
// nil when fn's shape is not a common one. P is a pointer type so that one
// instantiation (all pointers share a GC shape) serves every worker type.
func For[P any](fn any) Func {
	return forShape[P](fn)
}
