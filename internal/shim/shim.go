// Package shim calls methods of common shapes without reflect.Value.Call,
// which costs several hundred nanoseconds a call. [For] turns a method
// expression such as func(*T, int, int) int into a [Func] by a type switch
// over the shapes listed in gen/main.go; any other shape gets nil, and the
// caller falls back to reflection.
package shim

import (
	"context"
	"strconv"
	"unsafe"
)

//go:generate go run ./gen

// Func calls a method on recv, a *T. ctx is passed when the method takes
// one; args are its arguments, already of the parameter types. It returns
// the method's result (nil when it has none) and its error. A Func keeps no
// reference to args.
//
// A result of type int64, float64 or, where it is 8 bytes, int comes back
// as its bits instead, with res nil (see [For]), so that the caller can box
// it without an allocation of its own (package cell).
//
// The receiver is an unsafe.Pointer, not an any, so that a Func's
// parameters fit the nine integer registers of Go's amd64 calling
// convention: a call passes them without touching memory.
type Func func(recv unsafe.Pointer, ctx context.Context, args Args) (res any, bits uint64, err error)

// Args holds the arguments of one call. It is passed by value: the first
// two arguments, the common case, travel in registers, and only the rest of
// a longer list is allocated.
type Args struct {
	a0, a1 any
	rest   *any // arguments 2 and on, the first of an array of n-2
	n      int
}

// MakeArgs returns Args holding n arguments, all nil; fill them with Set.
func MakeArgs(n int) Args {
	a := Args{n: n}
	if n > 2 {
		a.rest = &make([]any, n-2)[0]
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
	return a.spilled()[i-2]
}

// Set sets argument i.
func (a *Args) Set(i int, v any) {
	switch {
	case i == 0 && a.n > 0:
		a.a0 = v
	case i == 1 && a.n > 1:
		a.a1 = v
	default:
		a.spilled()[i-2] = v
	}
}

func (a Args) spilled() []any {
	if a.rest == nil {
		return nil
	}
	return unsafe.Slice(a.rest, a.n-2)
}

// intIs64 says whether an int result travels as bits: only where it is 8
// bytes, the cell size.
const intIs64 = strconv.IntSize == 64

// as returns recv as the pointer type P.
func as[P any](recv unsafe.Pointer) P { return *(*P)(unsafe.Pointer(&recv)) }

// For returns a Func for fn, a method expression of the pointer type P, or
// nil when fn's shape is not a common one; bits says whether the Func
// returns its result as bits. P is a pointer type so that one instantiation
// (all pointers share a GC shape) serves every worker type.
func For[P any](fn any) (f Func, bits bool) {
	return forShape[P](fn)
}
