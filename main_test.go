package workers_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
)

// The runtime starts goroutines (WaitUntil tasks, HTTP servers in the fetch
// tests): none may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newRegistry returns a registry that is closed when the test ends.
func newRegistry(t testing.TB, opts ...workers.Option) *workers.Registry {
	t.Helper()
	reg := workers.NewRegistry(opts...)
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}

// register registers w under name and fails the test if that fails.
func register(t testing.TB, reg *workers.Registry, name string, w workers.Worker) {
	t.Helper()
	require.NoError(t, reg.Register(name, w))
}

// bind binds the default entrypoint of service.
func bind(reg *workers.Registry, service string) *workers.Binding {
	return reg.Bind(workers.Service{Service: service})
}

// ctxKey is the type of the context keys the tests set.
type ctxKey string

// syncBuffer is a bytes.Buffer a logger may write to from task goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
