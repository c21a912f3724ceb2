package workers

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/seed-29c11ff2/workers/internal/httpx"
	"github.com/seed-29c11ff2/workers/transport"
)

// fetcher is the HTTP handler of a worker, Workers' fetch(request).
type fetcher interface {
	Fetch(*http.Request) (*http.Response, error)
}

// Fetch sends req to the target entrypoint's Fetch method on a fresh
// instance, as Workers' binding.fetch(request) does. The callee gets a clone
// of req whose context is its Ctx; bodies stream, they are not copied. An
// entrypoint without Fetch fails with [ErrNoFetchHandler]. A response body
// whose ContentLength was left at 0 (neither nil nor http.NoBody) comes
// back with ContentLength -1, unknown, as net/http takes it.
func (b *Binding) Fetch(req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, newError(ErrInvalidArgument, "Fetch: nil request")
	}
	if b != nil && b.via != nil {
		return nil, newError(ErrNoFetchHandler, "%s: a Binding received from another process carries RPC calls only, not Fetch", b.label())
	}
	ep, err := b.resolve()
	if err != nil {
		return nil, err
	}
	if ep.worker.chain != nil {
		return b.interceptFetch(req, ep)
	}
	return b.fetchResolved(req, ep)
}

// fetchResolved is Fetch once b has resolved to ep, past any interceptors.
func (b *Binding) fetchResolved(req *http.Request, ep *entrypoint) (*http.Response, error) {
	r := b.reg
	if ep.worker.remote != nil {
		c, _, err := r.begin(req.Context(), b, ep, "")
		if err != nil {
			return nil, err
		}
		defer c.end()
		resp, err := ep.worker.remote.Fetch(c, &transport.Call{Service: ep.worker.name, Entrypoint: ep.name, Props: c.Props(), Depth: int(c.inv.Depth),
			Caller: callerOf(req.Context(), b.from)}, req)
		if resp != nil {
			undeclaredLength(resp)
		}
		return resp, err
	}
	if !ep.fetch {
		return nil, newError(ErrNoFetchHandler, "%s: Handler does not export a Fetch method", ep.display)
	}
	c, inst, err := r.begin(req.Context(), b, ep, "")
	if err != nil {
		return nil, err
	}
	defer c.end()
	inner := req.Clone(c)
	resp, err := ep.fetchOnce(c, inst, inner)
	if err != nil && c.passThrough.Load() && r.opts.origin != nil {
		return serveOrigin(r.opts.origin, req.Clone(req.Context()))
	}
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, fmt.Errorf("workers: %s: Fetch returned neither a response nor an error", ep.display)
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	undeclaredLength(resp)
	if resp.Request == nil {
		resp.Request = req
	}
	return resp, nil
}

// undeclaredLength marks a body left at ContentLength 0 as of unknown
// length, as net/http takes it: whoever passes it on must stream it, not
// declare it empty.
func undeclaredLength(resp *http.Response) {
	if resp.ContentLength == 0 && resp.Body != nil && resp.Body != http.NoBody {
		resp.ContentLength = -1
	}
}

func (ep *entrypoint) fetchOnce(c *Ctx, inst any, req *http.Request) (resp *http.Response, err error) {
	defer ep.recoverPanic("", &err) // the constructor is user code too
	inst, err = ep.instance(c, inst)
	if err != nil {
		return nil, err
	}
	return inst.(fetcher).Fetch(req)
}

// RoundTrip implements [http.RoundTripper] with [Binding.Fetch], so that an
// http.Client can talk to a worker: &http.Client{Transport: binding}. As the
// RoundTripper contract asks, the request body is closed: at once when the
// round trip fails, else when the response body is.
func (b *Binding) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.Fetch(req)
	if req == nil || req.Body == nil || req.Body == http.NoBody {
		return resp, err
	}
	if err != nil {
		_ = req.Body.Close()
		return nil, err
	}
	// The worker may stream the request body into its response: close the
	// request body when the caller is done with the response.
	resp.Body = &closeBoth{ReadCloser: resp.Body, also: req.Body}
	return resp, nil
}

type closeBoth struct {
	io.ReadCloser
	also io.Closer
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	_ = c.also.Close()
	return err
}

// ServeHTTP implements [http.Handler] with [Binding.Fetch], so a worker can
// be served on a real listener, a fresh instance per request, as wrangler
// dev does. A failed Fetch is answered with 404 (unknown service or
// entrypoint), 501 (no Fetch), 503 (closed) or 500 (the worker's error or
// panic), and, as Workers answers an uncaught exception, with a reference
// ID instead of the error's text, which may hold secrets: "internal error;
// reference = <id>". The error is logged with that ID (see [WithLogger]);
// [WithDebugErrors] puts it in the response too.
func (b *Binding) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	resp, err := b.Fetch(req)
	if err != nil {
		b.reg.serveError(w, req, b.svc, err)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	var dst io.Writer = w
	if resp.ContentLength < 0 || strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		dst = httpx.NewFlushWriter(w) // a stream: pass on each write as it comes
	}
	_, _ = io.Copy(dst, resp.Body)
	for k, v := range resp.Trailer {
		h[http.TrailerPrefix+k] = v
	}
}

// Handler returns an [http.Handler] serving the default entrypoint's Fetch of
// the named service on a real listener. Errors are answered as
// [Binding.ServeHTTP] answers them: with a status and a reference ID.
// With [WithTestScheduled] it also serves wrangler's /__scheduled route,
// which fires the worker's Scheduled.
func (r *Registry) Handler(service string) http.Handler {
	b := r.Bind(Service{Service: service})
	if r.opts.testScheduled {
		return &scheduledRoute{reg: r, service: service, next: b}
	}
	return b
}

// serveError answers a request whose Fetch failed with err: a status, a
// reference ID, and the error's text only with WithDebugErrors. The error
// goes to the logger with the ID, so that whoever got the ID can find it.
func (r *Registry) serveError(w http.ResponseWriter, req *http.Request, s Service, err error) {
	code, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, ErrServiceNotFound), errors.Is(err, ErrEntrypointNotFound):
		code, msg = http.StatusNotFound, "not found"
	case errors.Is(err, ErrNoFetchHandler), errors.Is(err, ErrNoScheduledHandler):
		code, msg = http.StatusNotImplemented, "not implemented"
	case errors.Is(err, ErrClosed):
		code, msg = http.StatusServiceUnavailable, "service unavailable"
	}
	ref := strings.ToLower(rand.Text())
	attrs := []any{"reference", ref, "service", s.Service}
	if s.Entrypoint != "" {
		attrs = append(attrs, "entrypoint", s.Entrypoint)
	}
	attrs = append(attrs, "method", req.Method, "path", req.URL.Path, "status", code, "error", err)
	var pe *PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	level := slog.LevelError
	if code != http.StatusInternalServerError {
		level = slog.LevelWarn // the registry's setup, not the worker, failed
	}
	r.logger().Log(req.Context(), level, "workers: Fetch failed", attrs...)
	msg += "; reference = " + ref
	if r != nil && r.opts.debugErrors {
		msg += "\n\n" + err.Error()
		if pe != nil {
			msg += "\n\n" + string(pe.Stack)
		}
	}
	http.Error(w, msg, code)
}

// serveOrigin runs the origin handler and turns what it writes into a
// response.
func serveOrigin(h http.Handler, req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(rec.code) + " " + http.StatusText(rec.code),
		StatusCode:    rec.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(&rec.body),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// NewResponse returns a response with a text body, for a worker's Fetch, as
// new Response(text, {status}) in Workers.
func NewResponse(status int, text string) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader(text)),
		ContentLength: int64(len(text)),
	}
}

// JSONResponse returns a response whose body is v as JSON, as
// Response.json(v) in Workers.
func JSONResponse(status int, v any) (*http.Response, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("workers: JSONResponse: %w", err)
	}
	resp := NewResponse(status, string(data))
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}
