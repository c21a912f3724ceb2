package method_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/method"
)

type base struct{}

func (*base) Internal() {}

type svc struct{ base }

func (*svc) Add(a, b int) int                                  { return a + b }
func (*svc) Ctx(ctx context.Context, s string) (string, error) { return s, nil }
func (*svc) Sum(xs ...int) int                                 { return len(xs) }
func (*svc) CtxRest(ctx context.Context, p string, r ...any)   {}
func (*svc) Fail() error                                       { return nil }
func (*svc) Three() (int, int, error)                          { return 0, 0, nil }
func (*svc) Swapped() (error, int)                             { return nil, 0 }
func (*svc) Fetch()                                            {}
func (*svc) lower()                                            {}

func TestBuild(t *testing.T) {
	tab := method.Build(reflect.TypeFor[*svc](), map[string]bool{"Internal": true, "Fetch": true})
	assert.Equal(t, []string{"Add", "Ctx", "CtxRest", "Fail", "Sum", "Swapped", "Three"}, tab.Names)

	tests := []struct {
		name     string
		ctx      bool
		params   []reflect.Type
		variadic bool
		result   reflect.Type
		err      bool
		problem  string
		sig      string
	}{
		{"Add", false, []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[int]()}, false, reflect.TypeFor[int](), false, "", "Add(int, int) int"},
		{"Ctx", true, []reflect.Type{reflect.TypeFor[string]()}, false, reflect.TypeFor[string](), true, "", "Ctx(context.Context, string) (string, error)"},
		{"Sum", false, []reflect.Type{reflect.TypeFor[[]int]()}, true, reflect.TypeFor[int](), false, "", "Sum(...int) int"},
		{"CtxRest", true, []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[[]any]()}, true, nil, false, "", "CtxRest(context.Context, string, ...interface {})"},
		{"Fail", false, nil, false, nil, true, "", "Fail() error"},
		{"Three", false, nil, false, nil, false, "it has 3 results", "Three() (int, int, error)"},
		{"Swapped", false, nil, false, reflect.TypeFor[error](), true, "its second result is int, not error", "Swapped() (error, int)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tab.Methods[tc.name]
			require.NotNil(t, m)
			assert.Equal(t, tc.name, m.Name)
			assert.Equal(t, tc.ctx, m.Ctx, "Ctx")
			assert.Equal(t, tc.params, m.Params, "Params")
			assert.Equal(t, tc.variadic, m.Variadic, "Variadic")
			if tc.problem == "" {
				assert.Equal(t, tc.result, m.Result, "Result")
				assert.Equal(t, tc.err, m.Error, "Error")
				assert.Empty(t, m.Problem)
			} else {
				assert.Contains(t, m.Problem, tc.problem)
				assert.Contains(t, m.Problem, "(), (T), (error) or (T, error)")
			}
			assert.Equal(t, tc.sig, m.Signature())
		})
	}
	for _, name := range []string{"Internal", "Fetch", "lower"} {
		assert.NotContains(t, tab.Methods, name)
	}
}

func TestSuggest(t *testing.T) {
	tab := method.Build(reflect.TypeFor[*svc](), nil)
	tests := []struct{ name, want string }{
		{"add", "Add"},
		{"ADD", "Add"},
		{"Ad", "Add"},
		{"Addd", "Add"},
		{"sm", "Sum"},
		{"fial", "Fail"},
		{"Three", ""}, // not callable: no hint towards it
		{"Thre", ""},
		{"Multiply", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tab.Suggest(tc.name))
		})
	}
}
