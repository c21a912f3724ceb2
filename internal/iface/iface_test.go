package iface_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/seed-29c11ff2/workers/internal/iface"
)

type celsius float64

func TestTypeIDIsTheFirstWordOfAnAny(t *testing.T) {
	for _, v := range []any{1, "s", celsius(2), struct{ A, B int }{}, new(int), []byte{}} {
		assert.Equal(t, iface.TypeID(reflect.TypeOf(v)), iface.Tab(unsafe.Pointer(&v)), "%T", v)
	}
	assert.NotEqual(t, iface.TypeID(reflect.TypeFor[int]()), iface.TypeID(reflect.TypeFor[int64]()))
	assert.Equal(t, iface.TypeID(reflect.TypeFor[*int]()), iface.TypeID(reflect.TypeOf((*int)(nil))))
}

func TestTabTellsDynamicTypes(t *testing.T) {
	a, b := context.Background(), context.Background()
	c := context.TODO()
	d, cancel := context.WithCancel(a)
	defer cancel()
	assert.Equal(t, iface.Tab(unsafe.Pointer(&a)), iface.Tab(unsafe.Pointer(&b)))
	assert.NotEqual(t, iface.Tab(unsafe.Pointer(&a)), iface.Tab(unsafe.Pointer(&c)))
	assert.NotEqual(t, iface.Tab(unsafe.Pointer(&a)), iface.Tab(unsafe.Pointer(&d)))

	e1, e2 := errors.New("x"), errors.New("y")
	assert.Equal(t, iface.Tab(unsafe.Pointer(&e1)), iface.Tab(unsafe.Pointer(&e2)))
}

func TestAt(t *testing.T) {
	x := int64(-7)
	v := iface.At(iface.TypeID(reflect.TypeFor[int64]()), unsafe.Pointer(&x))
	assert.Equal(t, int64(-7), v)

	f := 2.5
	v = iface.At(iface.TypeID(reflect.TypeFor[celsius]()), unsafe.Pointer(&f))
	assert.Equal(t, celsius(2.5), v)
	assert.IsType(t, celsius(0), v)

	s := struct{ A, B int }{1, 2}
	v = iface.At(iface.TypeID(reflect.TypeOf(s)), unsafe.Pointer(&s))
	assert.Equal(t, s, v)
}
