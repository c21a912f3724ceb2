package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Calc is the worker the tests call across processes.
type Calc struct{ workers.Entrypoint }

type Point struct {
	X, Y int
	Tags []string
}

func (w *Calc) Add(a, b int) int { return a + b }

func (w *Calc) Sum(xs ...int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func (w *Calc) Move(p Point, dx int) Point {
	p.X += dx
	p.Tags = append(p.Tags, "moved")
	return p
}

func (w *Calc) Scale(p *Point, k int64) *Point {
	if p == nil {
		return nil
	}
	return &Point{X: p.X * int(k), Y: p.Y * int(k)}
}

func (w *Calc) Echo(v any) any { return v }

func (w *Calc) Nothing() {}

func (w *Calc) Props() any { return w.Ctx.Props() }

func (w *Calc) Depth() int { return w.Ctx.Depth() }

func (w *Calc) Meta(ctx context.Context) map[string]string { return remote.Metadata(ctx) }

func (w *Calc) Panic() { panic("boom") }

// Fail returns what errs holds under name, wrapped.
func (w *Calc) Fail(name string) error {
	if err, ok := errs[name]; ok {
		return fmt.Errorf("calc failed: %w", err)
	}
	return errors.New("plain failure: " + name)
}

// Big returns n bytes.
func (w *Calc) Big(n int) []byte { return make([]byte, n) }

// Callback returns a func: it crosses by reference.
func (w *Calc) Callback() func() { return func() {} }

// Channel returns what cannot cross.
func (w *Calc) Channel() chan int { return make(chan int) }

// Slow waits for ctx, and records in dir that it started and, if so, that
// it was canceled: the process tests read the markers from outside.
func (w *Calc) Slow(ctx context.Context, dir string) error {
	if dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "started"), nil, 0o644)
	}
	if ch, ok := slowStarted.LoadAndDelete(dir); ok {
		close(ch.(chan struct{}))
	}
	select {
	case <-ctx.Done():
		if dir != "" {
			_ = os.WriteFile(filepath.Join(dir, "canceled"), []byte(ctx.Err().Error()), 0o644)
		}
		if ch, ok := slowCanceled.Load(dir); ok {
			ch.(chan error) <- ctx.Err()
		}
		return ctx.Err()
	case <-time.After(time.Minute):
		return nil
	}
}

// In-process tests watch Slow through these, keyed by its dir argument.
var slowStarted, slowCanceled sync.Map

// Later answers at once and finishes its work in a WaitUntil task, which
// waits for release.
func (w *Calc) Later(key string) string {
	release, _ := later.Load(key)
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		<-release.(chan struct{})
		laterDone.Store(key, true)
		return nil
	})
	return "accepted"
}

var later, laterDone sync.Map

// Fetch echoes the request: its method, URL and body, line by line as they
// come, so that a test can see both bodies stream.
func (w *Calc) Fetch(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/stream" {
		pr, pw := io.Pipe()
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := r.Body.Read(buf)
				if n > 0 {
					if _, werr := pw.Write([]byte("echo:" + string(buf[:n]))); werr != nil {
						_ = pw.CloseWithError(werr)
						return
					}
				}
				if err != nil {
					_ = pw.Close()
					return
				}
			}
		}()
		resp := workers.NewResponse(http.StatusOK, "")
		resp.Body, resp.ContentLength = pr, -1
		return resp, nil
	}
	if r.URL.Path == "/missing" {
		return workers.NewResponse(http.StatusNotFound, "no such page"), nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	props, _ := workers.PropsAs[map[string]any](w.Ctx)
	resp := workers.NewResponse(http.StatusOK, fmt.Sprintf("%s %s %s %q depth=%d props=%v trace=%s auth=%s",
		r.Method, r.Host, r.URL.RequestURI(), body, w.Ctx.Depth(), props, remote.Metadata(r.Context())["traceparent"], r.Header.Get("Authorization")))
	resp.Header.Set("X-Calc", "yes")
	var leaked []string
	for k := range r.Header {
		if strings.HasPrefix(k, "Workers-Remote-") {
			leaked = append(leaked, k)
		}
	}
	if len(leaked) > 0 {
		resp.Header.Set("X-Leaked", strings.Join(leaked, ","))
	}
	return resp, nil
}

// errs are the errors Fail returns: every sentinel of the runtime.
var errs = map[string]error{
	"ErrMethodNotFound":     workers.ErrMethodNotFound,
	"ErrReservedMethod":     workers.ErrReservedMethod,
	"ErrServiceNotFound":    workers.ErrServiceNotFound,
	"ErrEntrypointNotFound": workers.ErrEntrypointNotFound,
	"ErrNoFetchHandler":     workers.ErrNoFetchHandler,
	"ErrInvalidArgument":    workers.ErrInvalidArgument,
	"ErrInvalidResult":      workers.ErrInvalidResult,
	"ErrDepthExceeded":      workers.ErrDepthExceeded,
	"ErrClosed":             workers.ErrClosed,
	"ErrInvalidWorker":      workers.ErrInvalidWorker,
	"ErrUnavailable":        workers.ErrUnavailable,
	"Canceled":              context.Canceled,
	"DeadlineExceeded":      context.DeadlineExceeded,
	"EOF":                   io.EOF,
	"Quota":                 &QuotaError{Limit: 7, Used: 9},
}

// QuotaError is a user error type registered to cross the wire.
type QuotaError struct{ Limit, Used int }

func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota %d exceeded: %d used", e.Limit, e.Used)
}

func init() {
	remote.RegisterError[*QuotaError]("remote_test.QuotaError")
	remote.RegisterSentinel("io.EOF", io.EOF)
}

// Admin is a named entrypoint: a permission boundary.
type Admin struct{ workers.Entrypoint }

func (w *Admin) Reset() string { return "reset by " + fmt.Sprint(w.Ctx.Props()) }

func (w *Admin) Stats() int { return 42 }

// NoFetch has no Fetch.
type NoFetch struct{ workers.Entrypoint }

func (w *NoFetch) Ping() string { return "pong" }

// Hop calls its NEXT binding n times over, so that a chain can cross
// between two processes.
type Hop struct{ workers.Entrypoint }

func (w *Hop) Hop(n int) (int, error) {
	if n == 0 {
		return w.Ctx.Depth(), nil
	}
	return workers.Call[int](w.Ctx, w.Env.Service("NEXT"), "Hop", n-1)
}
