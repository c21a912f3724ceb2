package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/fxamacker/cbor/v2"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/transport"
)

// Transport is the calling side: a [transport.Transport] that carries a
// registry's calls to a worker served by [NewHandler] in another process.
// Register it with [Register] or [workers.Registry.RegisterRemote], and
// every binding to that worker (Env.Service, Registry.Bind, workers.Call,
// generated clients, Fetch) goes over the network unchanged. A Transport is
// safe for concurrent use; one may serve several services at the same base
// URL.
type Transport struct {
	base   string
	err    error // a base URL that cannot be used: every call fails with it
	token  string
	client *connect.Client[CallRequest, CallResponse]
	http   connect.HTTPClient
	own    *http.Transport // the HTTP transport it made, closed by Close
	errors *knownErrors    // WithErrors
	sess   sessions        // calls go through a session when the handler serves them
}

var _ transport.Transport = (*Transport)(nil)

// NewTransport returns a Transport to the handler at baseURL: the URL the
// handler's path ([ServicePath]) is under, such as
// "http://worker-b.default.svc.cluster.local:8787". A bare "host:port" means
// http://host:port. With an http:// URL it speaks HTTP/2 without TLS (h2c),
// for a private network; with https://, HTTP/2 over TLS. A base URL that is
// not usable makes every call fail with [workers.ErrUnavailable]; [Register]
// and [Dialer] report it at once instead.
func NewTransport(baseURL string, opts ...ClientOption) *Transport {
	var cfg clientConfig
	for _, o := range opts {
		if o != nil {
			o.applyToClient(&cfg)
		}
	}
	base, err := parseBase(baseURL)
	t := &Transport{base: base, err: err, token: cfg.token, http: cfg.httpClient, errors: cfg.errors}
	if err != nil {
		t.base = baseURL
		return t
	}
	if t.http == nil {
		t.own = newHTTPTransport(strings.HasPrefix(base, "https:"), cfg.tls)
		t.http = &http.Client{Transport: t.own}
	}
	copts := append([]connect.ClientOption{
		connect.WithCodec(Codec{}),
		connect.WithReadMaxBytes(MaxMessageBytes + envelopeBytes),
		connect.WithSendMaxBytes(MaxMessageBytes + envelopeBytes),
		connect.WithCompressMinBytes(compressMinBytes),
	}, cfg.connect...)
	t.client = connect.NewClient[CallRequest, CallResponse](t.http, base+CallProcedure, copts...)
	t.sess.client = connect.NewClient[sessionBatch, sessionBatch](t.http, base+SessionProcedure, copts...)
	t.sess.limits = cfg.session
	return t
}

func parseBase(raw string) (string, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("base URL %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q: scheme must be http or https", raw)
	case u.Host == "":
		return "", fmt.Errorf("base URL %q has no host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("base URL %q may not have a query or fragment", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// newHTTPTransport speaks HTTP/2 only: over TLS, or h2c for http:// URLs,
// so that concurrent calls share one connection and Fetch bodies stream
// both ways at once.
func newHTTPTransport(tlsURL bool, cfg *tls.Config) *http.Transport {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		// A peer that vanished without closing its connection (a machine
		// lost, not a process killed) is noticed within these.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second},
	}
	if cfg != nil {
		t.TLSClientConfig = cfg.Clone()
	}
	t.Protocols = new(http.Protocols)
	if tlsURL {
		t.Protocols.SetHTTP2(true)
	} else {
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t
}

// Close ends the Transport's session, if it has one (the handler releases
// the references it held of this side, and this side's stubs of the
// handler's fail with workers.ErrDisposed), and closes the idle connections
// of the HTTP client the Transport made (not of one given by
// [WithHTTPClient]). The Transport remains usable: the next call opens a
// new session. A registry closes the Transports registered in it when it
// closes.
func (t *Transport) Close() error {
	t.closeSession()
	if t.own != nil {
		t.own.CloseIdleConnections()
	}
	return nil
}

// String returns the base URL.
func (t *Transport) String() string { return t.base }

// Call implements [transport.Transport]: it sends one RPC call and decodes its
// result, into call.Result's type when that is set.
func (t *Transport) Call(ctx context.Context, call *transport.Call) (any, error) {
	where := describe(call.Service, call.Entrypoint, call.Method)
	if t.err != nil {
		return nil, errorf([]error{workers.ErrUnavailable, t.err}, "workers: %s: %v", where, t.err)
	}
	if res, err, ok := t.callSession(ctx, call, where); ok {
		return res, err
	}
	req, err := encodeCall(call, sentMetadata(ctx), where)
	if err != nil {
		return nil, err
	}
	creq := connect.NewRequest(req)
	if t.token != "" {
		creq.Header().Set(headerAuth, "Bearer "+t.token)
	}
	resp, err := t.client.CallUnary(ctx, creq)
	if err != nil {
		return nil, t.failed(ctx, where, err)
	}
	return decodeResult(resp.Msg, call.Result, where)
}

// encodeCall encodes a call's arguments and props, each checked to cross
// and within the size limit together.
func encodeCall(call *transport.Call, md map[string]string, where string) (*CallRequest, error) {
	req := &CallRequest{
		Service: call.Service, Entrypoint: call.Entrypoint, Method: call.Method,
		Depth: call.Depth, Metadata: md, Caller: sentCaller(call.Caller),
	}
	size := 0
	if n := len(call.Args); n > 0 {
		req.Args = make([]cbor.RawMessage, n)
		for i, a := range call.Args {
			data, err := encode(a)
			if err != nil {
				return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: argument %d: %v", where, i, err)
			}
			req.Args[i] = data
			size += len(data)
			if h := hintOf(a); h != "" {
				if req.Types == nil {
					req.Types = make([]string, n)
				}
				req.Types[i] = h
			}
		}
	}
	if call.Props != nil {
		data, err := encode(call.Props)
		if err != nil {
			return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: props: %v", where, err)
		}
		req.Props = data
		size += len(data)
	}
	if size > MaxMessageBytes {
		return nil, sizeError(where+": arguments", size)
	}
	return req, nil
}

// encode checks that v can cross and encodes it.
func encode(v any) ([]byte, error) {
	if err := crossable(v); err != nil {
		return nil, err
	}
	return encMode.Marshal(v)
}

// decodeResult decodes a result straight into the type the caller wants.
// One that does not decode so is decoded plainly, for workers.Call to
// convert exactly or to report with both types, as in-process.
func decodeResult(msg *CallResponse, want reflect.Type, where string) (any, error) {
	if len(msg.Result) == 0 {
		return nil, nil
	}
	if want != nil {
		if v, err := decodeInto(msg.Result, want, msg.Type); err == nil {
			return v.Interface(), nil
		}
	}
	v, err := decodeAny(msg.Result, msg.Type)
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidResult, err}, "workers: %s: result: %v", where, err)
	}
	return v, nil
}

// failed turns a failed connect call into the error the caller gets: the
// callee's, rebuilt, when the handler answered; the context's, when it ended;
// else ErrUnavailable.
func (t *Transport) failed(ctx context.Context, where string, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) && connect.IsWireError(ce) {
		if we := wireErrorIn(ce.Meta().Get(headerError)); we != nil {
			return fromWire(we, t.errors)
		}
		// An answer from something other than the handler: a proxy, or a
		// server where it is not mounted.
		switch ce.Code() {
		case connect.CodeUnauthenticated:
			return errorf([]error{ErrUnauthenticated, ce}, "workers: %s: %v", where, ce.Message())
		case connect.CodePermissionDenied:
			return errorf([]error{ErrPermissionDenied, ce}, "workers: %s: %v", where, ce.Message())
		case connect.CodeResourceExhausted:
			return errorf([]error{workers.ErrInvalidArgument, ce}, "workers: %s: refused as too large (over 32MiB?): %v", where, ce.Message())
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return errorf([]error{cerr, err}, "workers: %s: %v", where, cerr)
	}
	if ce != nil && !connect.IsWireError(ce) && ce.Code() == connect.CodeResourceExhausted {
		return errorf([]error{workers.ErrInvalidArgument, ce}, "workers: %s: %v", where, ce.Message())
	}
	return errorf([]error{workers.ErrUnavailable, err}, "workers: %s: remote worker at %s unavailable: %v", where, t.base, err)
}

func wireErrorIn(header string) *WireError {
	if header == "" {
		return nil
	}
	data, err := connect.DecodeBinaryHeader(header)
	if err != nil {
		return nil
	}
	var we WireError
	if decMode.Unmarshal(data, &we) != nil {
		return nil
	}
	return &we
}

// Fetch implements [transport.Transport]: it proxies req to the remote
// worker's Fetch as plain HTTP, streaming the request body up and the
// response body down, and returns the worker's response.
func (t *Transport) Fetch(ctx context.Context, call *transport.Call, req *http.Request) (*http.Response, error) {
	where := describe(call.Service, call.Entrypoint, "")
	if t.err != nil {
		return nil, errorf([]error{workers.ErrUnavailable, t.err}, "workers: %s: %v", where, t.err)
	}
	if req.URL == nil {
		return nil, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: the request has no URL", where)
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, t.base+FetchPath, nil)
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: %v", where, err)
	}
	if req.Body != nil && req.Body != http.NoBody {
		out.Body, out.ContentLength = req.Body, req.ContentLength
	}
	out.Header = make(http.Header, len(req.Header)+6)
	for k, v := range req.Header {
		if !strings.HasPrefix(k, headerPrefix) && !hopByHop[k] {
			out.Header[k] = v
		}
	}
	out.Trailer = req.Trailer
	target := *req.URL
	if target.Host == "" {
		target.Host = req.Host
	}
	if target.Scheme == "" {
		target.Scheme = "http"
	}
	if target.Host == "" {
		target.Host = call.Service
	}
	out.Header.Set(headerURL, target.String())
	out.Header.Set(headerService, call.Service)
	if call.Entrypoint != "" {
		out.Header.Set(headerEntrypoint, call.Entrypoint)
	}
	out.Header.Set(headerDepth, strconv.Itoa(call.Depth))
	if c := sentCaller(call.Caller); c != "" {
		out.Header.Set(headerCaller, c)
	}
	if call.Props != nil {
		data, err := encode(call.Props)
		if err != nil {
			return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: props: %v", where, err)
		}
		out.Header.Set(headerProps, connect.EncodeBinaryHeader(data))
	}
	if md := sentMetadata(ctx); len(md) > 0 {
		data, err := encMode.Marshal(md)
		if err != nil {
			return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: metadata: %v", where, err)
		}
		out.Header.Set(headerMetadata, connect.EncodeBinaryHeader(data))
	}
	if dl, ok := ctx.Deadline(); ok {
		out.Header.Set(headerTimeout, strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	if t.token != "" {
		out.Header.Set(headerAuth, "Bearer "+t.token)
	}
	resp, err := t.http.Do(out)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, errorf([]error{cerr, err}, "workers: %s: %v", where, cerr)
		}
		return nil, errorf([]error{workers.ErrUnavailable, err}, "workers: %s: remote worker at %s unavailable: %v", where, t.base, err)
	}
	switch resp.Header.Get(headerResult) {
	case "ok":
	case "error":
		drain(resp.Body)
		if we := wireErrorIn(resp.Header.Get(headerError)); we != nil {
			return nil, fromWire(we, t.errors)
		}
		return nil, errorf([]error{workers.ErrUnavailable}, "workers: %s: remote worker at %s failed with HTTP status %d", where, t.base, resp.StatusCode)
	default:
		drain(resp.Body)
		return nil, errorf([]error{workers.ErrUnavailable}, "workers: %s: no remote handler answered at %s (HTTP status %d)", where, t.base+FetchPath, resp.StatusCode)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, headerPrefix) {
			delete(resp.Header, k)
		}
	}
	resp.Request = req
	return resp, nil
}

// hopByHop are the headers of one connection, not of the request.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// Register registers the worker served at baseURL under name in reg (see
// [NewTransport] and [workers.Registry.RegisterRemote]), so that bindings
// to name reach it. It fails if baseURL is not usable or name is taken.
func Register(reg *workers.Registry, name, baseURL string, opts ...ClientOption) error {
	if _, err := parseBase(baseURL); err != nil {
		return fmt.Errorf("remote: register %q: %w", name, err)
	}
	t := NewTransport(baseURL, opts...)
	if err := reg.RegisterRemote(name, t); err != nil {
		_ = t.Close()
		return err
	}
	return nil
}

// Dialer returns the function a config loader calls for a service that runs
// elsewhere: a service entry with an address,
//
//	[[services]]
//	binding = "WORKER_B"
//	service = "worker_b"
//	address = "http://worker-b.default.svc.cluster.local:8787"
//
// gets the Transport dial("worker_b", "http://worker-b...:8787") returns,
// registered under the service name. address is a base URL as
// [NewTransport] takes (a bare host:port is h2c); opts apply to every
// Transport, which services at the same address share.
func Dialer(opts ...ClientOption) transport.Dialer {
	var mu sync.Mutex
	made := map[string]*Transport{}
	return func(service, address string) (transport.Transport, error) {
		base, err := parseBase(address)
		if err != nil {
			return nil, fmt.Errorf("remote: service %q: %w", service, err)
		}
		mu.Lock()
		defer mu.Unlock()
		t := made[base]
		if t == nil {
			t = NewTransport(base, opts...)
			made[base] = t
		}
		return t, nil
	}
}
