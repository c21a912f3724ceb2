package remote_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Refs takes and gives values with references inside.
type Refs struct{ workers.Entrypoint }

// Holder holds a target in a field of its own type: a session refuses it.
type Holder struct{ T *Tally }

// HolderAny holds one in a field of type any: a session carries it.
type HolderAny struct{ T any }

// Count counts the references v holds, and calls each once.
func (w *Refs) Count(ctx context.Context, v any) (string, error) {
	var found []string
	var walk func(rv reflect.Value) error
	walk = func(rv reflect.Value) error {
		if !rv.IsValid() {
			return nil
		}
		if st, ok := rv.Interface().(*workers.Stub); ok {
			// A target, a binding or a func: each a stub here.
			_, err := st.Call(ctx, "Increment", 1)
			if err != nil {
				_, err = st.Call(ctx, "Reveal")
			}
			if err != nil {
				_, err = st.Call(ctx, "")
			}
			found = append(found, "stub")
			return err
		}
		switch rv.Kind() {
		case reflect.Func:
			found = append(found, "func")
			if rv.Type().NumIn() == 0 {
				rv.Call(nil)
			}
		case reflect.Interface, reflect.Pointer:
			return walk(rv.Elem())
		case reflect.Slice, reflect.Array:
			for i := range rv.Len() {
				if err := walk(rv.Index(i)); err != nil {
					return err
				}
			}
		case reflect.Map:
			it := rv.MapRange()
			for it.Next() {
				if err := walk(it.Value()); err != nil {
					return err
				}
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				if rv.Type().Field(i).IsExported() {
					if err := walk(rv.Field(i)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	err := walk(reflect.ValueOf(v))
	sort.Strings(found)
	return strings.Join(found, ","), err
}

// Make returns a value of the kind asked for.
func (w *Refs) Make(kind string) any {
	switch kind {
	case "target":
		return &Tally{}
	case "target in a map":
		return map[string]any{"t": &Tally{}}
	case "target in a field of type any":
		return HolderAny{T: &Tally{}}
	case "target in a typed field":
		return Holder{T: &Tally{}}
	case "func in a slice of any":
		return []any{func() int { return 1 }}
	case "typed slice of funcs":
		return []func() int{func() int { return 1 }}
	case "binding in a map":
		return map[string]any{"b": w.Env.Service("OTHER")}
	case "channel in a map":
		return map[string]any{"c": make(chan int)}
	}
	return nil
}

func refsRegistry(t *testing.T, opts ...workers.Option) *workers.Registry {
	reg := newRegistry(t, opts...)
	require.NoError(t, reg.Register("refs", workers.Worker{Default: workers.New[Refs](),
		Services: []workers.Service{{Binding: "OTHER", Service: "secret"}}}))
	require.NoError(t, reg.Register("secret", workers.Worker{Default: workers.New[Secret]()}))
	return reg
}

// shape describes what a result holds: its references by type.
func shape(v any) string {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return "nil"
	}
	switch rv.Kind() {
	case reflect.Map:
		var parts []string
		it := rv.MapRange()
		for it.Next() {
			parts = append(parts, fmt.Sprintf("%v:%s", it.Key(), shape(it.Value().Interface())))
		}
		sort.Strings(parts)
		return "map[" + strings.Join(parts, " ") + "]"
	case reflect.Slice:
		var parts []string
		for i := range rv.Len() {
			parts = append(parts, shape(rv.Index(i).Interface()))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return rv.Type().String()
}

// The serialized mode accepts exactly the values with references inside
// that a remote session carries, and refuses those it refuses; what it
// accepts arrives as it arrives over a session, references as stubs whose
// calls reach the original.
func TestSerializeReferencesAsSessions(t *testing.T) {
	serialized := refsRegistry(t, workers.WithInterceptors(remote.Serialize()))
	remoteReg := dial(t, serve(t, refsRegistry(t), remote.InsecureAllowAll()), []string{"refs"})
	modes := map[string]*workers.Binding{
		"serialized": serialized.Bind(workers.Service{Service: "refs"}),
		"remote":     remoteReg.Bind(workers.Service{Service: "refs"}),
	}
	caller := refsRegistry(t) // where the arguments' targets live
	other := caller.Bind(workers.Service{Service: "secret"})
	args := []struct {
		name string
		arg  func() any
	}{
		{"func", func() any { return func() {} }},
		{"func in a slice of any", func() any { return []any{func() {}} }},
		{"target in a map", func() any { return map[string]any{"t": &Tally{}} }},
		{"target in a field of type any", func() any { return HolderAny{T: &Tally{}} }},
		{"target in a typed field", func() any { return Holder{T: &Tally{}} }},
		{"typed slice of funcs", func() any { return []func(){func() {}} }},
		{"binding in a slice of any", func() any { return []any{other} }},
		{"channel in a slice of any", func() any { return []any{make(chan int)} }},
		{"plain", func() any { return map[string]any{"n": 1} }},
	}
	ctx := t.Context()
	for _, c := range args {
		t.Run("argument/"+c.name, func(t *testing.T) {
			got := map[string]string{}
			for mode, b := range modes {
				out, err := workers.Call[string](ctx, b, "Count", c.arg())
				if err != nil {
					out = "error: " + err.Error()
				}
				got[mode] = out
			}
			assert.Equal(t, got["remote"], got["serialized"])
		})
	}
	for _, kind := range []string{"target", "target in a map", "target in a field of type any", "target in a typed field",
		"func in a slice of any", "typed slice of funcs", "binding in a map", "channel in a map"} {
		t.Run("result/"+kind, func(t *testing.T) {
			got := map[string]string{}
			for mode, b := range modes {
				out, err := b.Call(ctx, "Make", kind)
				s := shape(out)
				if err != nil {
					s = "error: " + err.Error()
				}
				got[mode] = s
				if st, ok := out.(*workers.Stub); ok {
					n, err := workers.Call[int](ctx, st, "Increment", 2)
					assert.NoError(t, err, mode)
					assert.Equal(t, 2, n, mode)
				}
				if m, ok := out.(map[string]any); ok {
					if st, ok := m["t"].(*workers.Stub); ok {
						n, err := workers.Call[int](ctx, st, "Increment", 3)
						assert.NoError(t, err, mode)
						assert.Equal(t, 3, n, mode, "the target in the callee's process")
					}
				}
			}
			assert.Equal(t, got["remote"], got["serialized"])
		})
	}
}
