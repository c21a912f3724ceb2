package workers_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// records is a slog.Handler that keeps every record with its attributes.
type records struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

// find returns the records with message msg.
func (h *records) find(msg string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range h.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

type logWorker struct{ workers.Entrypoint }

func (w *logWorker) Panic() { panic("kaboom") }

func (w *logWorker) Deep(n int) (int, error) {
	return workers.Call[int](w.Ctx, w.Env.Service("SELF"), "Deep", n+1)
}

func (w *logWorker) Later() {
	w.Ctx.WaitUntil(func(context.Context) error { return errors.New("mail server down") })
}

func (w *logWorker) Secret() string { return "s3cret" }

// The registry's logger gets every failure that the caller cannot see, or
// that an operator must, each with structured attributes.
func TestLogRecords(t *testing.T) {
	var h records
	deny := workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
		return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
			if ci.Method == "Secret" {
				return nil, errors.New("not for you")
			}
			return next(ctx, ci)
		}
	})
	reg := workers.NewRegistry(workers.WithLogger(slog.New(&h)), workers.WithMaxDepth(3))
	require.NoError(t, reg.Register("log", workers.Worker{
		Default:      workers.New[logWorker](),
		Entrypoints:  map[string]workers.Constructor{"Named": workers.New[logWorker]()},
		Services:     []workers.Service{{Binding: "SELF", Service: "log"}},
		Interceptors: []workers.Interceptor{deny},
	}))
	ctx := context.Background()
	b := reg.Bind(workers.Service{Service: "log"})
	named := reg.Bind(workers.Service{Service: "log", Entrypoint: "Named"})

	_, err := named.Call(ctx, "Panic")
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	_, err = b.Call(ctx, "Deep", 1)
	require.ErrorIs(t, err, workers.ErrDepthExceeded)
	_, err = b.Call(ctx, "Secret")
	require.ErrorContains(t, err, "not for you")
	_, err = named.Call(ctx, "Later")
	require.NoError(t, err)
	require.NoError(t, reg.Close(ctx))

	panics := h.find("workers: call panicked")
	require.Len(t, panics, 1)
	assert.Equal(t, slog.LevelError, panics[0].level)
	assert.Equal(t, "log", panics[0].attrs["service"])
	assert.Equal(t, "Named", panics[0].attrs["entrypoint"])
	assert.Equal(t, "Panic", panics[0].attrs["method"])
	assert.Equal(t, "kaboom", panics[0].attrs["panic"])
	assert.Contains(t, panics[0].attrs["stack"], "logWorker).Panic", "the stack is the callee's")

	deep := h.find("workers: call refused: depth limit exceeded")
	require.Len(t, deep, 1)
	assert.Equal(t, slog.LevelWarn, deep[0].level)
	assert.Equal(t, "Deep", deep[0].attrs["method"])
	assert.ErrorIs(t, deep[0].attrs["error"].(error), workers.ErrDepthExceeded)

	refused := h.find("workers: call refused by an interceptor")
	require.Len(t, refused, 1)
	assert.Equal(t, "log", refused[0].attrs["service"])
	assert.Equal(t, "Secret", refused[0].attrs["method"])
	assert.EqualError(t, refused[0].attrs["error"].(error), "not for you")

	tasks := h.find("workers: WaitUntil task failed")
	require.Len(t, tasks, 1)
	assert.Equal(t, "log", tasks[0].attrs["service"])
	assert.Equal(t, "Named", tasks[0].attrs["entrypoint"])
	assert.EqualError(t, tasks[0].attrs["error"].(error), "mail server down")
}
