// Package shim calls methods of common shapes without reflect.Value.Call,
// which costs several hundred nanoseconds a call. [For] turns a method
// expression such as func(*T, int, int) int into a [Func] by a type switch
// over the shapes listed in gen/main.go, and [Bound] does the same for a
// bound method value such as func(int, int) int; any other shape gets nil,
// and the caller falls back to reflection.
package shim

import "context"

//go:generate go run ./gen

// Func calls a method on recv, a *T. ctx is passed when the method takes
// one; args are its arguments, already of the parameter types. It returns
// the method's result (nil when it has none) and its error. A Func keeps no
// reference to args.
type Func func(recv any, ctx context.Context, args Args) (res any, err error)

// Args holds the arguments of one call. It is passed by value, so that the
// first two arguments, the common case, need no slice: a slice passed
// through a func value escapes to the heap, which would cost every call an
// allocation. Only the rest of a longer list is allocated.
type Args struct {
	a0, a1 any
	rest   []any // arguments 2 and on
	n      int
}

// MakeArgs returns Args holding n arguments, all nil; fill them with Set.
func MakeArgs(n int) Args {
	a := Args{n: n}
	if n > 2 {
		a.rest = make([]any, n-2)
	}
	return a
}

// Two returns the Args of a call with up to two arguments, as they are.
func Two(args []any) Args {
	switch len(args) {
	case 0:
		return Args{}
	case 1:
		return Args{a0: args[0], n: 1}
	}
	return Args{a0: args[0], a1: args[1], n: 2}
}

// Len returns the number of arguments.
func (a Args) Len() int { return a.n }

// At returns argument i. It panics when i is out of range, as indexing a
// slice does.
func (a Args) At(i int) any {
	switch {
	case i == 0 && a.n > 0:
		return a.a0
	case i == 1 && a.n > 1:
		return a.a1
	}
	return a.rest[i-2]
}

// Set sets argument i.
func (a *Args) Set(i int, v any) {
	switch {
	case i == 0 && a.n > 0:
		a.a0 = v
	case i == 1 && a.n > 1:
		a.a1 = v
	default:
		a.rest[i-2] = v
	}
}

// For returns a Func for fn, a method expression of the pointer type P, or
// nil when fn's shape is not a common one. P is a pointer type so that one
// instantiation (all pointers share a GC shape) serves every worker type.
func For[P any](fn any) Func {
	return forShape[P](fn)
}

// Bound returns a Func for fn, a method value bound to its receiver (the
// Func ignores its recv), or nil when fn's shape is not a common one. It
// serves receivers whose type no generic instantiation names: a method
// value's type does not mention its receiver's, so that
// reflect.Value.Method(i).Interface() of any *T can be switched on. Such a
// value made by reflection still calls through reflect's method-value
// trampoline, but without reflect.Value.Call's slices and boxed results.
func Bound(fn any) Func {
	return forBound(fn)
}
