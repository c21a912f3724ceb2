// Package cell boxes 8-byte scalars (int, int64, uint64, float64 and named
// types of those kinds) into interfaces without an allocation each.
//
// Boxing such a value into an any, as returning it from a call by name must,
// costs an allocation of its own: a good part of a whole call. Here values
// share blocks of cells instead, so one allocation serves many results. A
// cell is written once, before its interface exists, and never again; a
// block lives as long as any value boxed in it, and holds no pointers, so it
// keeps nothing else alive.
package cell

import (
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/iface"
)

const blockSize = 64

type block struct {
	next atomic.Uint32 // the first free cell
	v    [blockSize]uint64
}

// Boxes hands out cells. The zero Boxes is ready to use, and it is safe for
// concurrent use; give each core its own where you can, as the cells of a
// block share cache lines.
type Boxes struct {
	cur atomic.Pointer[block]
}

// Box returns the value whose bits are bits as an interface of type t.
func (b *Boxes) Box(t Type, bits uint64) any {
	for {
		blk := b.cur.Load()
		if blk != nil {
			if i := blk.next.Add(1) - 1; i < blockSize {
				p := &blk.v[i]
				*p = bits
				return iface.At(t.typ, unsafe.Pointer(p))
			}
		}
		b.cur.CompareAndSwap(blk, new(block)) // full or none yet: whoever swaps first wins
	}
}

// A Type is an 8-byte scalar type that [Boxes] can box. The zero Type is
// none.
type Type struct {
	typ unsafe.Pointer // iface.TypeID of the type
}

// TypeOf returns t as a Type, or false when t is not an 8-byte scalar.
func TypeOf(t reflect.Type) (Type, bool) {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr, reflect.Float64:
	default:
		return Type{}, false
	}
	if t.Size() != 8 {
		return Type{}, false // int and uint on 32-bit platforms
	}
	return Type{typ: iface.TypeID(t)}, true
}

// Valid reports whether t is a type, not the zero Type.
func (t Type) Valid() bool { return t.typ != nil }
