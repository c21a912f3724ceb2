package shim_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/shim"
)

func TestArgs(t *testing.T) {
	for n := range 6 {
		a := shim.MakeArgs(n)
		require.Equal(t, n, a.Len())
		for i := range n {
			assert.Nil(t, a.At(i), "argument %d of %d before Set", i, n)
			a.Set(i, i*10)
		}
		for i := range n {
			assert.Equal(t, i*10, a.At(i), "argument %d of %d", i, n)
		}
		assert.Panics(t, func() { a.At(n) }, "argument %d of %d", n, n)
	}
}

func TestTwo(t *testing.T) {
	for _, args := range [][]any{nil, {1}, {1, "b"}} {
		a := shim.Two(args)
		require.Equal(t, len(args), a.Len())
		for i, v := range args {
			assert.Equal(t, v, a.At(i))
		}
	}
}

type worker struct{ base int }

func (w *worker) Add(a, b int) int { return w.base + a + b }

func (w *worker) Fail(ctx context.Context, s string) (string, error) {
	if s == "" {
		return "", errors.New("empty")
	}
	return s + ctx.Value(key{}).(string), nil
}

func (w *worker) Three(a, b, c int) int { return a + b + c }

func (w *worker) Half(x float64) float64 { return x / 2 }

type key struct{}

func TestFor(t *testing.T) {
	w := &worker{base: 100}

	add := shim.For[*worker]((*worker).Add)
	require.NotNil(t, add)
	res, err := add(w, context.Background(), shim.Two([]any{1, -2}))
	require.NoError(t, err)
	assert.Equal(t, 99, res)

	half := shim.For[*worker]((*worker).Half)
	require.NotNil(t, half)
	res, err = half(w, context.Background(), shim.Two([]any{-3.0}))
	require.NoError(t, err)
	assert.Equal(t, -1.5, res)

	fail := shim.For[*worker]((*worker).Fail)
	require.NotNil(t, fail)
	ctx := context.WithValue(context.Background(), key{}, "!")
	res, err = fail(w, ctx, shim.Two([]any{"hi"}))
	require.NoError(t, err)
	assert.Equal(t, "hi!", res)
	res, err = fail(w, ctx, shim.Two([]any{""}))
	assert.EqualError(t, err, "empty")
	assert.Nil(t, res, "a result next to an error")

	three := shim.For[*worker]((*worker).Three)
	assert.Nil(t, three, "three parameters are not a common shape")
}

// The committed shapes.go is what gen/main.go writes now.
func TestShapesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	out := filepath.Join(t.TempDir(), "shapes.go")
	cmd := exec.Command("go", "run", "./gen", "-o", out)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile("shapes.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "shapes.go is stale: run go generate ./internal/shim")
}

// Bound takes method values of the shapes For takes, bound to their
// receiver, and ignores the Func's recv.
func TestBound(t *testing.T) {
	w := &worker{base: 100}

	add := shim.Bound(w.Add)
	require.NotNil(t, add)
	res, err := add(nil, context.Background(), shim.Two([]any{1, -2}))
	require.NoError(t, err)
	assert.Equal(t, 99, res, "the receiver is the bound one")

	fail := shim.Bound(w.Fail)
	require.NotNil(t, fail)
	ctx := context.WithValue(context.Background(), key{}, "!")
	res, err = fail("ignored", ctx, shim.Two([]any{"hi"}))
	require.NoError(t, err)
	assert.Equal(t, "hi!", res)
	_, err = fail(nil, ctx, shim.Two([]any{""}))
	assert.EqualError(t, err, "empty")

	assert.Nil(t, shim.Bound(w.Three), "three parameters are not a common shape")
	assert.Nil(t, shim.Bound((*worker).Add), "a method expression is not a bound method value")
}
