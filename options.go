package workers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/seed-29c11ff2/workers/transport"
)

// An Option configures a [Registry].
type Option interface{ apply(*options) }

type options struct {
	logger      *slog.Logger
	debugErrors bool
	origin      http.Handler
	maxDepth    int
	stateDir    string
	dialer      transport.Dialer

	clock         Clock         // of cron triggers; nil for the system's
	testScheduled bool          // Handler serves /__scheduled
	doIdle        time.Duration // Durable Objects: see durable.go
	alarmBackoff  time.Duration
	doSyncFull    bool

	interceptors []Interceptor
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// DefaultMaxDepth is how many nested invocations a call chain may make, as
// Workers allows 32 through service bindings.
const DefaultMaxDepth = 32

// maxMaxDepth bounds WithMaxDepth: a chain deeper than this would overflow
// the goroutine's stack long before.
const maxMaxDepth = 1 << 14

// WithLogger sets the logger for what the runtime cannot return to a caller,
// or an operator must see: failed or panicking WaitUntil tasks, calls that
// panicked (with the stack), calls refused by the depth limit or by an
// interceptor, Fetch errors answered over HTTP (with the reference ID the
// response carries), config warnings; each record names the service,
// entrypoint and method, and the error. The default is [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithOrigin sets the handler that serves a request whose worker called
// [Ctx.PassThroughOnException] and then failed, as Workers passes it to the
// origin server.
func WithOrigin(h http.Handler) Option {
	return optionFunc(func(o *options) { o.origin = h })
}

// WithMaxDepth sets how many nested invocations a call chain may make before
// calls fail with [ErrDepthExceeded]. The default is [DefaultMaxDepth].
func WithMaxDepth(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.maxDepth = min(n, maxMaxDepth)
		}
	})
}

// WithStateDir sets where [Registry.RegisterConfig] keeps local state such as
// D1 databases. By default it is .wrangler/state beside each config file, as
// wrangler dev keeps it.
func WithStateDir(dir string) Option {
	return optionFunc(func(o *options) { o.stateDir = dir })
}

// WithDebugErrors sets whether the responses of [Registry.Handler] and
// [Binding.ServeHTTP] to a failed Fetch carry the error's text (and a
// panic's stack) after the reference ID, as wrangler dev shows them. Turn
// it on only in development: an error's text may hold secrets. By default
// the response carries the reference ID alone and the error is only logged.
func WithDebugErrors(on bool) Option {
	return optionFunc(func(o *options) { o.debugErrors = on })
}
