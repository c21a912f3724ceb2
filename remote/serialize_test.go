package remote_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

type Secretive struct {
	Name  string
	Inner int `cbor:"-"` // copied in-process, not sent
}

type localError struct{ Code int }

func (e *localError) Error() string { return "local error" }

type Wire struct{ workers.Entrypoint }

func (w *Wire) Keep(s Secretive) Secretive { return s }
func (w *Wire) Run(f func() int) int       { return f() }
func (w *Wire) Props() any                 { return w.Ctx.Props() }
func (w *Wire) Wide(n int64) int64         { return n * 2 }
func (w *Wire) Fail() error                { return &localError{Code: 7} }
func (w *Wire) Quota() error               { return &QuotaError{Limit: 3, Used: 4} }
func (w *Wire) Missing() error             { return workers.ErrMethodNotFound }
func (w *Wire) Point() Point               { return Point{X: 1, Y: 2} }

type propsOf struct{ Who string }

// With remote.Serialize, an in-process call fails or changes exactly as
// the same call to a remote worker does; without it, it does not.
func TestSerialize(t *testing.T) {
	ctx := context.Background()
	binds := map[string]*workers.Binding{}
	for _, mode := range []string{"local", "serialized", "remote"} {
		var opts []workers.Option
		if mode == "serialized" {
			opts = append(opts, workers.WithInterceptors(remote.Serialize()))
		}
		reg := newRegistry(t, opts...)
		require.NoError(t, reg.Register("wire", workers.Worker{Default: workers.New[Wire]()}))
		binds[mode] = reg.Bind(workers.Service{Service: "wire", Props: propsOf{Who: "a"}})
		if mode == "remote" {
			binds[mode] = dial(t, serve(t, reg, remote.InsecureAllowAll()), []string{"wire"}).
				Bind(workers.Service{Service: "wire", Props: propsOf{Who: "a"}})
		}
	}
	type outcome struct {
		val any
		err string
	}
	cases := []struct {
		name string
		call func(b *workers.Binding) (any, error)
	}{
		{"fields the encoding skips", func(b *workers.Binding) (any, error) {
			return workers.Call[Secretive](ctx, b, "Keep", Secretive{Name: "n", Inner: 5})
		}},
		{"a func argument", func(b *workers.Binding) (any, error) {
			return workers.Call[int](ctx, b, "Run", func() int { return 1 })
		}},
		{"props", func(b *workers.Binding) (any, error) { return b.Call(ctx, "Props") }},
		{"int to int64", func(b *workers.Binding) (any, error) { return workers.Call[int64](ctx, b, "Wide", 21) }},
		{"a struct result into any", func(b *workers.Binding) (any, error) { return b.Call(ctx, "Point") }},
		{"an unregistered error", func(b *workers.Binding) (any, error) {
			_, err := b.Call(ctx, "Fail")
			var le *localError
			return errors.As(err, &le), nil
		}},
		{"a registered error", func(b *workers.Binding) (any, error) {
			_, err := b.Call(ctx, "Quota")
			var qe *QuotaError
			return errors.As(err, &qe) && qe.Used == 4, nil
		}},
		{"a sentinel", func(b *workers.Binding) (any, error) {
			_, err := b.Call(ctx, "Missing")
			return errors.Is(err, workers.ErrMethodNotFound), nil
		}},
		{"no such method", func(b *workers.Binding) (any, error) {
			_, err := b.Call(ctx, "Nope")
			return errors.Is(err, workers.ErrMethodNotFound), nil
		}},
	}
	results := map[string]map[string]outcome{}
	for _, c := range cases {
		results[c.name] = map[string]outcome{}
		for mode, b := range binds {
			v, err := c.call(b)
			o := outcome{val: v}
			if err != nil {
				o = outcome{err: err.Error()}
			}
			results[c.name][mode] = o
		}
	}
	for _, c := range cases {
		r := results[c.name]
		if r["serialized"].err != "" || r["remote"].err != "" {
			// Where the remote call fails, so does the serialized one, and
			// with the same message but for the transport's own words.
			assert.NotEmpty(t, r["serialized"].err, "%s: remote failed with %q", c.name, r["remote"].err)
			assert.NotEmpty(t, r["remote"].err, "%s: serialized failed with %q", c.name, r["serialized"].err)
			continue
		}
		assert.Equal(t, r["remote"].val, r["serialized"].val, "%s: serialized as remote", c.name)
	}
	assert.Equal(t, Secretive{Name: "n", Inner: 5}, results["fields the encoding skips"]["local"].val)
	assert.Equal(t, Secretive{Name: "n"}, results["fields the encoding skips"]["serialized"].val)
	assert.Empty(t, results["a func argument"]["local"].err)
	// A func crosses a session by reference: it works in every mode.
	assert.Empty(t, results["a func argument"]["serialized"].err)
	assert.Empty(t, results["a func argument"]["remote"].err)
	assert.Equal(t, results["a func argument"]["local"].val, results["a func argument"]["remote"].val)
	assert.Equal(t, propsOf{Who: "a"}, results["props"]["local"].val)
	assert.Equal(t, map[string]any{"Who": "a"}, results["props"]["serialized"].val)
	assert.Equal(t, Point{X: 1, Y: 2}, results["a struct result into any"]["local"].val)
	assert.Equal(t, true, results["an unregistered error"]["local"].val)
	assert.Equal(t, false, results["an unregistered error"]["serialized"].val)
	assert.Equal(t, true, results["a registered error"]["serialized"].val)
	assert.Equal(t, true, results["a sentinel"]["serialized"].val)
	assert.Equal(t, true, results["no such method"]["serialized"].val)
}
