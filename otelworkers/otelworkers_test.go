package otelworkers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/otelworkers"
	"github.com/seed-29c11ff2/workers/remote"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Calc runs in the serving registry.
type Calc struct{ workers.Entrypoint }

func (w *Calc) Add(a, b int) int { return a + b }

var errBroke = errors.New("it broke")

func (w *Calc) Fail() error { return errBroke }

func (w *Calc) Fetch(r *http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, "calc "+r.URL.Path), nil
}

// Counter is an RpcTarget that Calc hands out: its calls cross back to
// the serving process through a stub.
type Counter struct {
	workers.RpcTarget
	n int
}

func (c *Counter) Increment(by int) int { c.n += by; return c.n }

func (w *Calc) Counter() *Counter { return &Counter{} }

// Front runs in the calling registry and calls Calc through a binding.
type Front struct{ workers.Entrypoint }

func (w *Front) Sum(a, b int) (int, error) {
	return workers.Call[int](w.Ctx, w.Env.Service("CALC"), "Add", a, b)
}

func (w *Front) Page(path string) (string, error) {
	req, err := http.NewRequestWithContext(w.Ctx, http.MethodGet, "http://calc"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := w.Env.Service("CALC").Fetch(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// Count calls a Counter of Calc's through its stub.
func (w *Front) Count() (int, error) {
	c, err := workers.Call[*workers.Stub](w.Ctx, w.Env.Service("CALC"), "Counter")
	if err != nil {
		return 0, err
	}
	return workers.Call[int](w.Ctx, c, "Increment", 2)
}

func (w *Front) Break() error {
	_, err := w.Env.Service("CALC").Call(w.Ctx, "Fail")
	return err
}

type fixture struct {
	spans   *tracetest.InMemoryExporter
	metrics *sdkmetric.ManualReader
	front   *workers.Binding
}

// setup makes two registries, one serving Calc over h2c, the other
// running Front with a remote binding to it; both traced into one
// exporter, as two processes exporting to one collector.
func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{spans: tracetest.NewInMemoryExporter(), metrics: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(f.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.metrics))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	ic, err := otelworkers.NewInterceptor(otelworkers.WithTracerProvider(tp), otelworkers.WithMeterProvider(mp))
	require.NoError(t, err)

	server := workers.NewRegistry(workers.WithInterceptors(ic))
	t.Cleanup(func() { _ = server.Close(context.Background()) })
	require.NoError(t, server.Register("calc", workers.Worker{Default: workers.New[Calc]()}))
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(server, remote.InsecureAllowAll()))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	caller := workers.NewRegistry(workers.WithInterceptors(ic))
	t.Cleanup(func() { _ = caller.Close(context.Background()) })
	require.NoError(t, remote.Register(caller, "calc", srv.URL))
	require.NoError(t, caller.Register("front", workers.Worker{
		Default:  workers.New[Front](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}},
	}))
	f.front = caller.Bind(workers.Service{Service: "front"})
	return f
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// One call chain across a remote hop is one trace: the caller's span, its
// client span for the hop, and the serving side's span, each the parent of
// the next, with the RPC attributes.
func TestTraceAcrossRemote(t *testing.T) {
	f := setup(t)
	sum, err := workers.Call[int](context.Background(), f.front, "Sum", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 5, sum)

	spans := f.spans.GetSpans() // in the order they ended
	require.Len(t, spans, 3)
	server, client, root := spans[0], spans[1], spans[2]
	assert.Equal(t, "front/Sum", root.Name)
	assert.Equal(t, trace.SpanKindInternal, root.SpanKind)
	assert.False(t, root.Parent.IsValid(), "the first call starts the trace")
	assert.Equal(t, "calc/Add", client.Name)
	assert.Equal(t, trace.SpanKindClient, client.SpanKind)
	assert.Equal(t, "calc/Add", server.Name)
	assert.Equal(t, trace.SpanKindServer, server.SpanKind)

	trace := root.SpanContext.TraceID()
	for _, s := range spans {
		assert.Equal(t, trace, s.SpanContext.TraceID(), "span %s is in the one trace", s.Name)
		assert.Equal(t, "workers", attr(s, "rpc.system").AsString())
		assert.Equal(t, codes.Unset, s.Status.Code)
	}
	assert.Equal(t, root.SpanContext.SpanID(), client.Parent.SpanID())
	assert.Equal(t, client.SpanContext.SpanID(), server.Parent.SpanID())
	assert.True(t, server.Parent.IsRemote(), "the parent came over the wire")
	assert.Equal(t, "calc", attr(server, "rpc.service").AsString())
	assert.Equal(t, "Add", attr(server, "rpc.method").AsString())
	assert.Equal(t, "front", attr(client, "workers.caller").AsString())
	assert.Equal(t, int64(2), attr(client, "workers.depth").AsInt64())
	assert.Equal(t, int64(2), attr(server, "workers.depth").AsInt64(), "the depth spans processes")
	assert.Equal(t, "front", attr(server, "workers.caller").AsString(), "the caller's name crossed too")
}

// A call through a stub of the serving process's object is traced on both
// sides too: a client span in the caller, its child on the serving side.
func TestTraceRemoteStub(t *testing.T) {
	f := setup(t)
	n, err := workers.Call[int](context.Background(), f.front, "Count")
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	byName := map[string][]tracetest.SpanStub{}
	spans := f.spans.GetSpans()
	for _, s := range spans {
		byName[attr(s, "rpc.method").AsString()] = append(byName[attr(s, "rpc.method").AsString()], s)
	}
	inc := byName["Increment"]
	require.Len(t, inc, 2, "the caller's span and the server's")
	server, client := inc[0], inc[1]
	assert.Equal(t, trace.SpanKindClient, client.SpanKind)
	assert.Equal(t, "front", attr(client, "workers.caller").AsString())
	assert.Equal(t, trace.SpanKindServer, server.SpanKind)
	assert.Equal(t, "*otelworkers_test.Counter", attr(server, "rpc.service").AsString())
	assert.Equal(t, "front", attr(server, "workers.caller").AsString())
	assert.Equal(t, client.SpanContext.SpanID(), server.Parent.SpanID())
	for _, s := range spans {
		assert.Equal(t, spans[0].SpanContext.TraceID(), s.SpanContext.TraceID(), "span %s is in the one trace", s.Name)
	}
}

// A fetch across the hop is traced likewise, with its HTTP method and
// status; a failed call's spans have an error status and the error.
func TestTraceFetchAndErrors(t *testing.T) {
	f := setup(t)
	page, err := workers.Call[string](context.Background(), f.front, "Page", "/x")
	require.NoError(t, err)
	assert.Equal(t, "calc /x", page)
	spans := f.spans.GetSpans()
	require.Len(t, spans, 3)
	server, client := spans[0], spans[1]
	assert.Equal(t, "calc/Fetch", server.Name)
	assert.Equal(t, client.SpanContext.SpanID(), server.Parent.SpanID())
	assert.Equal(t, "GET", attr(server, "http.request.method").AsString())
	assert.Equal(t, int64(200), attr(server, "http.response.status_code").AsInt64())

	f.spans.Reset()
	_, err = f.front.Call(context.Background(), "Break")
	require.Error(t, err)
	spans = f.spans.GetSpans()
	require.Len(t, spans, 3)
	for _, s := range spans {
		assert.Equal(t, codes.Error, s.Status.Code, "span %s", s.Name)
		assert.Contains(t, s.Status.Description, "it broke")
		require.NotEmpty(t, s.Events, "span %s records the error", s.Name)
		assert.Equal(t, "exception", s.Events[0].Name)
	}
}

// Durations are recorded per call, server side and client side, and
// nothing is left in flight once the calls are done.
func TestMetrics(t *testing.T) {
	f := setup(t)
	for range 3 {
		_, err := workers.Call[int](context.Background(), f.front, "Sum", 1, 1)
		require.NoError(t, err)
	}
	_, err := f.front.Call(context.Background(), "Break")
	require.Error(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, f.metrics.Collect(context.Background(), &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	count := func(name, service, method string, withError bool) uint64 {
		h, ok := got[name].(metricdata.Histogram[float64])
		require.True(t, ok, "%s is a histogram", name)
		n := uint64(0)
		for _, dp := range h.DataPoints {
			s, _ := dp.Attributes.Value("rpc.service")
			m, _ := dp.Attributes.Value("rpc.method")
			_, failed := dp.Attributes.Value("error.type")
			if s.AsString() == service && m.AsString() == method && failed == withError {
				n += dp.Count
			}
		}
		return n
	}
	assert.Equal(t, uint64(3), count("rpc.server.duration", "front", "Sum", false))
	assert.Equal(t, uint64(3), count("rpc.server.duration", "calc", "Add", false), "on the serving side")
	assert.Equal(t, uint64(3), count("rpc.client.duration", "calc", "Add", false))
	assert.Equal(t, uint64(1), count("rpc.client.duration", "calc", "Fail", true))

	inFlight, ok := got["workers.calls.in_flight"].(metricdata.Sum[int64])
	require.True(t, ok)
	require.NotEmpty(t, inFlight.DataPoints)
	for _, dp := range inFlight.DataPoints {
		assert.Zero(t, dp.Value, "%v", dp.Attributes)
	}
}
