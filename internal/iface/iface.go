// Package iface knows how the gc toolchain lays out interface values, so
// that the rest of the module does not have to: an interface is two words,
// the first naming its dynamic type (an itab for an interface with
// methods), the second pointing to its value. The call path uses this to
// compare types with one instruction and to box values it has stored
// itself; the tests pin the layout down.
package iface

import (
	"reflect"
	"unsafe"
)

// words is the layout of an interface value.
type words struct {
	tab, data unsafe.Pointer
}

// Tab returns the first word of the interface value at p: the same for
// two values of one interface type exactly when their dynamic types are the
// same. (Not generic, as a generic function called from code that is not
// would not inline.)
func Tab(p unsafe.Pointer) unsafe.Pointer {
	return (*words)(p).tab
}

// TypeID returns the type descriptor that t holds: the first word of any
// value of type t, and one pointer per type, so comparing two is comparing
// types without the call that comparing reflect.Types costs.
func TypeID(t reflect.Type) unsafe.Pointer {
	return (*words)(unsafe.Pointer(&t)).data
}

// At returns the interface of the type typ (a TypeID) whose value lies at
// p. The value must not change afterwards, and typ must be a type whose
// values the interface holds by pointer: anything but pointers, maps,
// channels, funcs and single-pointer structs and arrays.
func At(typ, p unsafe.Pointer) any {
	var v any
	w := (*words)(unsafe.Pointer(&v))
	w.tab, w.data = typ, p
	return v
}
