// Package otelworkers traces and measures the calls of a workers registry
// with OpenTelemetry: a [workers.Interceptor] that records a span per call
// and per fetch, following the OpenTelemetry RPC semantic conventions
// (rpc.system "workers", rpc.service, rpc.method, an error status), and
// the duration and number in flight of the calls.
//
//	ic, err := otelworkers.NewInterceptor() // the global providers, or WithTracerProvider...
//	reg := workers.NewRegistry(workers.WithInterceptors(ic))
//
// Give the interceptor to every registry, the calling and the serving one:
// a call to a worker in another process (package remote) carries the
// caller's W3C trace context in its call metadata, and the serving side's
// span continues the caller's trace, so that a chain of calls across
// processes is one trace.
//
// It is a module of its own so that package workers does not depend on
// OpenTelemetry.
package otelworkers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.38.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/seed-29c11ff2/workers/otelworkers"

// System is the value of rpc.system.
const System = "workers"

// An Option configures the interceptor.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go; the default is otel's global
// tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go; the default is otel's global
// meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagator sets how trace context crosses to remote workers; the
// default is W3C trace context with baggage.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// Interceptor is the [workers.Interceptor] that [NewInterceptor] returns.
type Interceptor struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	server   metric.Float64Histogram // rpc.server.duration: calls this registry runs
	client   metric.Float64Histogram // rpc.client.duration: calls it sends elsewhere
	inFlight metric.Int64UpDownCounter
}

var _ workers.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns an interceptor that traces and measures every
// call and fetch of the registries it is given to. It fails only when an
// instrument cannot be made.
func NewInterceptor(opts ...Option) (*Interceptor, error) {
	cfg := config{
		tp:   otel.GetTracerProvider(),
		mp:   otel.GetMeterProvider(),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	meter := cfg.mp.Meter(ScopeName)
	ic := &Interceptor{tracer: cfg.tp.Tracer(ScopeName), prop: cfg.prop}
	var err error
	if ic.server, err = meter.Float64Histogram("rpc.server.duration", metric.WithUnit("ms"),
		metric.WithDescription("Measures the duration of inbound RPC.")); err != nil {
		return nil, err
	}
	if ic.client, err = meter.Float64Histogram("rpc.client.duration", metric.WithUnit("ms"),
		metric.WithDescription("Measures the duration of outbound RPC.")); err != nil {
		return nil, err
	}
	if ic.inFlight, err = meter.Int64UpDownCounter("workers.calls.in_flight", metric.WithUnit("{call}"),
		metric.WithDescription("The calls and fetches that have started and not yet ended.")); err != nil {
		return nil, err
	}
	return ic, nil
}

// WrapCall traces and measures RPC calls.
func (ic *Interceptor) WrapCall(next workers.CallFunc) workers.CallFunc {
	return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
		ctx, span, done := ic.start(ctx, ci)
		out, err := next(ctx, ci)
		done(err)
		span.End()
		return out, err
	}
}

// WrapFetch traces and measures fetches, with their HTTP method and
// status.
func (ic *Interceptor) WrapFetch(next workers.FetchFunc) workers.FetchFunc {
	return func(req *http.Request, ci *workers.CallInfo) (*http.Response, error) {
		ctx, span, done := ic.start(req.Context(), ci)
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(req.Method))
		resp, err := next(req.WithContext(ctx), ci)
		if resp != nil {
			span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
			if resp.StatusCode >= 500 {
				span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
			}
		}
		done(err)
		span.End()
		return resp, err
	}
}

// start opens the span of a call and counts it in flight; done records
// its outcome.
func (ic *Interceptor) start(ctx context.Context, ci *workers.CallInfo) (context.Context, trace.Span, func(error)) {
	service, method := ci.Service, ci.Method
	if service == "" {
		service = ci.Target
	}
	if method == "" {
		method = "Fetch"
	}
	kind := trace.SpanKindInternal
	switch {
	case ci.Remote:
		kind = trace.SpanKindClient
	case !trace.SpanContextFromContext(ctx).IsValid():
		// The first call in this process of a chain that may have started
		// in another: continue the caller's trace, sent as metadata.
		if md := remote.Metadata(ctx); len(md) > 0 {
			ctx = ic.prop.Extract(ctx, propagation.MapCarrier(md))
			if trace.SpanContextFromContext(ctx).IsRemote() {
				kind = trace.SpanKindServer
			}
		}
	}
	attrs := []attribute.KeyValue{
		semconv.RPCSystemKey.String(System),
		semconv.RPCService(service),
		semconv.RPCMethod(method),
	}
	metricAttrs := attribute.NewSet(attrs...)
	spanAttrs := append(attrs, attribute.Int("workers.depth", ci.Depth))
	if ci.Entrypoint != "" {
		spanAttrs = append(spanAttrs, attribute.String("workers.entrypoint", ci.Entrypoint))
	}
	if ci.Caller != "" {
		spanAttrs = append(spanAttrs, attribute.String("workers.caller", ci.Caller))
	}
	ctx, span := ic.tracer.Start(ctx, service+"/"+method, trace.WithSpanKind(kind), trace.WithAttributes(spanAttrs...))
	if ci.Remote {
		// The callee's side continues this span's trace.
		carrier := propagation.MapCarrier{}
		ic.prop.Inject(ctx, carrier)
		for k, v := range carrier {
			ctx = remote.WithMetadata(ctx, k, v)
		}
	}
	hist := ic.server
	if ci.Remote {
		hist = ic.client
	}
	set := metric.WithAttributeSet(metricAttrs)
	ic.inFlight.Add(ctx, 1, set)
	begin := time.Now()
	return ctx, span, func(err error) {
		ic.inFlight.Add(ctx, -1, set)
		rec := []metric.RecordOption{set}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			rec = append(rec, metric.WithAttributes(semconv.ErrorTypeKey.String(errorType(err))))
		}
		hist.Record(ctx, float64(time.Since(begin))/float64(time.Millisecond), rec...)
	}
}

// errorType names err's class for the error.type attribute: "panic", the
// runtime's sentinel it wraps, or "_OTHER".
func errorType(err error) string {
	if _, ok := errors.AsType[*workers.PanicError](err); ok {
		return "panic"
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "_OTHER"
}

var sentinels = []struct {
	name string
	err  error
}{
	{"method_not_found", workers.ErrMethodNotFound},
	{"service_not_found", workers.ErrServiceNotFound},
	{"entrypoint_not_found", workers.ErrEntrypointNotFound},
	{"invalid_argument", workers.ErrInvalidArgument},
	{"invalid_result", workers.ErrInvalidResult},
	{"depth_exceeded", workers.ErrDepthExceeded},
	{"closed", workers.ErrClosed},
	{"unavailable", workers.ErrUnavailable},
	{"disposed", workers.ErrDisposed},
	{"deadline_exceeded", context.DeadlineExceeded},
	{"canceled", context.Canceled},
}
