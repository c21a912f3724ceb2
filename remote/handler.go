package remote

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/httpx"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// NewHandler serves the workers of reg to other processes: their default
// and named entrypoints' RPC methods (a connect procedure, so also gRPC and
// gRPC-Web) and their Fetch (plain HTTP, bodies streamed). It returns the
// path to mount the handler on, as connect's generated constructors do:
//
//	mux := http.NewServeMux()
//	mux.Handle(remote.NewHandler(reg, remote.AllowToken(token, remote.Allow{Service: "worker_b"})))
//	srv := &http.Server{
//		Addr: ":8787", Handler: mux, Protocols: new(http.Protocols),
//		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
//		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
//	}
//	srv.Protocols.SetHTTP1(true)
//	srv.Protocols.SetUnencryptedHTTP2(true) // h2c, on a private network; or serve TLS
//
// The timeouts bound unauthenticated and refused requests; the handler
// lifts ReadTimeout and WriteTimeout for allowed ones, to the caller's
// deadline (see the package documentation).
//
// Each call runs in reg as a local call would: on a fresh instance, with the
// caller's props, deadline and metadata, one level deeper in its call chain
// (so the depth limit spans processes), its WaitUntil tasks drained by
// reg's Close.
//
// Every request must be authenticated by a credential the options name
// ([AllowToken], [AllowCertificate]), and may reach only the services,
// entrypoints and methods that credential allows: others get 401 or 403 and
// reach no worker. Without credentials, the handler refuses everything
// unless [InsecureAllowAll] says otherwise. It answers exactly
// [CallProcedure] and [FetchPath] (after any prefix an http.StripPrefix
// removed); any other path is 404. It panics if two options give the same
// token or certificate identity.
func NewHandler(reg *workers.Registry, opts ...HandlerOption) (string, http.Handler) {
	h := &handler{reg: reg}
	for _, o := range opts {
		if o != nil {
			o.applyToHandler(&h.cfg)
		}
	}
	copts := append([]connect.HandlerOption{
		connect.WithCodec(Codec{}),
		connect.WithReadMaxBytes(MaxMessageBytes + envelopeBytes),
		connect.WithSendMaxBytes(MaxMessageBytes + envelopeBytes),
		connect.WithCompressMinBytes(compressMinBytes),
		// The runtime recovers a worker's panics; this is for the handler's own.
		connect.WithRecover(func(_ context.Context, _ connect.Spec, _ http.Header, v any) error {
			return connect.NewError(connect.CodeInternal, fmt.Errorf("remote: handler panicked: %v", v))
		}),
	}, h.cfg.connect...)
	h.errors = connect.NewErrorWriter(copts...)
	h.call = connect.NewUnaryHandler(CallProcedure, h.serveCall, copts...)
	h.session = connect.NewBidiStreamHandler(SessionProcedure, h.serveSession, copts...)
	return ServicePath, h
}

type handler struct {
	reg     *workers.Registry
	cfg     handlerConfig
	call    *connect.Handler
	session *connect.Handler
	errors  *connect.ErrorWriter
	methods sync.Map // methodKey -> transport.MethodInfo, for methods that exist
	local   sync.Map // methodKey{service, entrypoint, ""} -> true, for workers reg runs
}

type methodKey struct{ service, entrypoint, method string }

type principalKey struct{}

// caller is who made a request, and where to answer it.
type caller struct {
	p *principal
	w http.ResponseWriter
}

// closeUnread makes an answer given before the request body was read close
// the connection (HTTP/1), rather than wait to read and discard that body
// first as net/http does to reuse the connection. HTTP/2 streams need no
// such care.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// graceAfterDeadline is how long past a caller's deadline its request may
// still be read and answered: the answer to a call that ran out of time
// is DeadlineExceeded, which must still reach the caller.
const graceAfterDeadline = 10 * time.Second

// lift lifts the server's ReadTimeout and WriteTimeout for an allowed
// request: they bound what an unauthenticated or refused peer may hold, and
// would cut a long call or a streamed Fetch body short. The request keeps
// the caller's own deadline, if it set one. Writers that do not support
// deadlines need no lifting.
func lift(w http.ResponseWriter, ctx context.Context, read bool) {
	var until time.Time
	if dl, ok := ctx.Deadline(); ok {
		until = dl.Add(graceAfterDeadline)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(until)
	if read {
		_ = rc.SetReadDeadline(until)
	}
}

var everyone = &principal{name: "anyone (InsecureAllowAll)", all: true}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Exactly the three paths, wherever the handler is mounted: a path
	// that only ends like one is someone else's.
	var fetch, session bool
	switch r.URL.Path {
	case FetchPath:
		fetch = true
	case SessionProcedure:
		session = true
	case CallProcedure:
	default:
		http.NotFound(w, r)
		return
	}
	p, err := h.authenticate(r)
	if err != nil {
		// Answered from the headers alone: the body, which a slow or
		// stalled client may never finish, is not waited for.
		h.logger().Warn("remote: request refused", "path", r.URL.Path, "peer", r.RemoteAddr, "error", err)
		if fetch {
			h.writeFetchError(w, r, err)
		} else {
			closeUnread(w, r)
			h.writeCallError(w, r, err)
		}
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, &caller{p: p, w: w}))
	if fetch {
		h.serveFetch(w, r, p)
		return
	}
	if session {
		h.session.ServeHTTP(w, r) // a stream: connect bounds each message
		return
	}
	if r.ContentLength == 0 && r.Method == http.MethodPost {
		// connect would call a message-less request unimplemented (501).
		h.writeCallError(w, r, errorf([]error{workers.ErrInvalidArgument}, "remote: empty request: no call message"))
		return
	}
	// Refuse a body over the limit as it streams in, not after.
	r.Body = http.MaxBytesReader(w, r.Body, MaxMessageBytes+envelopeBytes)
	h.call.ServeHTTP(w, r)
}

// authenticate finds who is calling, before anything of the request is read.
func (h *handler) authenticate(r *http.Request) (*principal, error) {
	if h.cfg.insecure {
		return everyone, nil
	}
	if len(h.cfg.tokens) == 0 && len(h.cfg.certs) == 0 {
		return nil, errorf([]error{ErrUnauthenticated}, "remote: this handler accepts no caller: it was made without credentials (AllowToken, AllowCertificate) and without InsecureAllowAll")
	}
	if v := r.Header.Get(headerAuth); v != "" {
		// A hash as the map key, so that looking a token up does not leak
		// by its timing how much of it matched.
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			if p := h.cfg.tokens[sha256.Sum256([]byte(tok))]; p != nil {
				return p, nil
			}
		}
		return nil, errorf([]error{ErrUnauthenticated}, "remote: the bearer token is not accepted")
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		for _, id := range identities(leaf) {
			if p := h.cfg.certs[id]; p != nil {
				return p, nil
			}
		}
		return nil, errorf([]error{ErrPermissionDenied}, "remote: client certificate %q is not allowed to call", leaf.Subject.CommonName)
	}
	return nil, errorf([]error{ErrUnauthenticated}, "remote: no credentials: send a bearer token or a verified client certificate")
}

func identities(c *x509.Certificate) []string {
	ids := []string{}
	if c.Subject.CommonName != "" {
		ids = append(ids, c.Subject.CommonName)
	}
	ids = append(ids, c.DNSNames...)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	return append(ids, c.EmailAddresses...)
}

// denied is the error of a call the principal may not make.
func denied(p *principal, service, entrypoint, method string) error {
	if p == nil {
		p = &principal{name: "an unauthenticated caller"}
	}
	if method == "" {
		method = "Fetch"
	}
	return errorf([]error{ErrPermissionDenied}, "remote: %s may not call service %q entrypoint %q method %q", p.name, service, entrypoint, method)
}

// denied is denied, logged in the registry's log.
func (h *handler) denied(p *principal, service, entrypoint, method string) error {
	err := denied(p, service, entrypoint, method)
	attrs := []any{"service", service}
	if entrypoint != "" {
		attrs = append(attrs, "entrypoint", entrypoint)
	}
	if method == "" {
		method = "Fetch"
	}
	h.logger().Warn("remote: call refused", append(attrs, "method", method, "error", err)...)
	return err
}

func (h *handler) logger() *slog.Logger {
	return link.Runtime.(*link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env]).Logger(h.reg.Bind(workers.Service{}))
}

func (h *handler) writeCallError(w http.ResponseWriter, r *http.Request, err error) {
	ce := h.connectError(err)
	if ce.Code() == connect.CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="workers"`)
	}
	if h.errors.IsSupported(r) {
		_ = h.errors.Write(w, r, ce)
		return
	}
	http.Error(w, ce.Message(), httpStatus(ce.Code()))
}

// connectError turns a call's error into a connect error with the code of
// its first sentinel, carrying the whole error in its metadata.
func (h *handler) connectError(err error) *connect.Error {
	we, code := toWire(err, h.cfg.errors)
	ce := connect.NewError(code, errors.New(we.Message))
	if data, merr := encMode.Marshal(we); merr == nil {
		ce.Meta().Set(headerError, connect.EncodeBinaryHeader(data))
	}
	return ce
}

func (h *handler) serveCall(ctx context.Context, req *connect.Request[CallRequest]) (*connect.Response[CallResponse], error) {
	m := req.Msg
	ep := m.Entrypoint
	if ep == "default" {
		ep = ""
	}
	c, _ := ctx.Value(principalKey{}).(*caller)
	if c == nil || !c.p.allows(m.Service, ep, m.Method) {
		var p *principal
		if c != nil {
			p = c.p
		}
		return nil, h.connectError(h.denied(p, m.Service, ep, m.Method))
	}
	lift(c.w, ctx, false) // the message is read already
	where := describe(m.Service, ep, m.Method)
	// The method first, from a binding without props: nothing the caller
	// sent is decoded for a call that cannot be made.
	mi, err := h.method(h.reg.Bind(workers.Service{Service: m.Service, Entrypoint: ep}), methodKey{m.Service, ep, m.Method})
	if err != nil {
		if lerr := h.servedHere(h.reg.Bind(workers.Service{Service: m.Service, Entrypoint: ep}), m.Service, ep); lerr != nil {
			err = lerr
		}
		return nil, h.connectError(err)
	}
	props, args, err := decodeCall(mi, m, where)
	if err != nil {
		return nil, h.connectError(err)
	}
	if ctx, err = withCaller(ctx, m.Caller, where); err != nil {
		return nil, h.connectError(err)
	}
	b := h.reg.Bind(workers.Service{Service: m.Service, Entrypoint: ep, Props: props})
	// The caller counted this invocation at m.Depth; the call below counts
	// one more than the context says.
	ctx = transport.WithDepth(withReceived(ctx, m.Metadata), max(m.Depth, 1)-1)
	res, err := b.Call(ctx, m.Method, args...)
	if err != nil {
		return nil, h.connectError(err)
	}
	if st, ok := res.(*workers.Stub); ok {
		defer st.Close() // it cannot cross a unary call (see crossable): release it
	}
	out, err := encodeResult(mi, res, where)
	if err != nil {
		return nil, h.connectError(err)
	}
	return connect.NewResponse(out), nil
}

// servedHere fails unless b's worker is one reg runs itself. A worker
// registered there as remote is not served onward: the peer would reach a
// third process with this server's credential and props of its own making.
func (h *handler) servedHere(b *workers.Binding, service, entrypoint string) error {
	k := methodKey{service, entrypoint, ""}
	if _, ok := h.local.Load(k); ok {
		return nil
	}
	local, err := hooks().Local(b)
	switch {
	case err != nil:
		return err
	case !local:
		return errorf([]error{workers.ErrServiceNotFound},
			"remote: service %q is not served here: this registry reaches it as a remote worker, and a handler serves only the workers its registry runs", service)
	}
	h.local.Store(k, true) // a registered worker stays where it is
	return nil
}

// decodeCall decodes the props (JSON-like) and the arguments (into the
// parameters of mi) of a call, within the decoding budget of its size.
func decodeCall(mi transport.MethodInfo, m *CallRequest, where string) (props any, args []any, err error) {
	size := len(m.Props)
	for _, a := range m.Args {
		size += len(a)
	}
	s := &sizer{size: size, limit: decodeBudget(size)}
	if len(m.Props) > 0 && !isNull(m.Props) {
		if props, err = decodeWithin(s, m.Props, anyType, ""); err != nil {
			if errors.Is(err, errBudget) {
				err = s.overError()
			}
			return nil, nil, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: props: %v", where, err)
		}
	}
	args, err = decodeArgs(s, mi, m, where)
	if err != nil {
		return nil, nil, err
	}
	return props, args, nil
}

// encodeResult encodes the result of a call of the method mi describes.
func encodeResult(mi transport.MethodInfo, res any, where string) (*CallResponse, error) {
	out := &CallResponse{}
	if mi.Result == nil {
		return out, nil
	}
	if err := crossable(res); err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: result: %v", where, err)
	}
	data, err := encMode.Marshal(res)
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: result: %v", where, err)
	}
	if len(data) > MaxMessageBytes {
		return nil, sizeError(where+": result", len(data))
	}
	out.Result, out.Type = data, hintOf(res)
	return out, nil
}

func (h *handler) method(b *workers.Binding, k methodKey) (transport.MethodInfo, error) {
	if mi, ok := h.methods.Load(k); ok {
		return mi.(transport.MethodInfo), nil
	}
	mi, err := describeMethod(b, k.method)
	if err != nil {
		return mi, err
	}
	h.methods.Store(k, mi)
	return mi, nil
}

var anyType = reflect.TypeFor[any]()

// decodeArgs decodes each argument straight into its parameter's type,
// within the budget of s. A scalar that does not decode so (1.5 for an
// int, 300 for a uint8, "x" for an int) is decoded as it is and left to the
// call, which converts it exactly as it converts in-process (21.0 to int
// yes, 1.5 no) or names both types; nil likewise, where a parameter is not
// nilable. An array or a map that does not decode into its parameter's
// type is refused here: decoding it anyhow would spend memory on a call
// that fails.
func decodeArgs(s *sizer, mi transport.MethodInfo, m *CallRequest, where string) ([]any, error) {
	if len(m.Args) == 0 {
		return nil, nil
	}
	fixed := len(mi.Params)
	if mi.Variadic {
		fixed--
	}
	args := make([]any, len(m.Args))
	for i, raw := range m.Args {
		var pt reflect.Type
		switch {
		case i < fixed:
			pt = mi.Params[i]
		case mi.Variadic:
			pt = mi.Params[fixed].Elem()
		default:
			// One too many: the call reports the count, which is all it
			// needs of the extra arguments.
			continue
		}
		if isNull(raw) {
			continue
		}
		hint := ""
		if i < len(m.Types) {
			hint = m.Types[i]
		}
		v, err := decodeWithin(s, raw, pt, hint)
		if err == nil {
			args[i] = v
			continue
		}
		if errors.Is(err, errBudget) {
			return nil, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: argument %d (%s): %v", where, i, pt, s.overError())
		}
		if scalar(raw) {
			if a, err2 := decodeAny(raw, hint); err2 == nil {
				args[i] = a
				continue
			}
		}
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: argument %d (%s): %v", where, i, pt, err)
	}
	return args, nil
}

// decodeWithin decodes raw into a value of type t (an interface by the
// hint), once s has reckoned that it fits what is left of its budget.
func decodeWithin(s *sizer, raw []byte, t reflect.Type, hint string) (any, error) {
	if t.Kind() == reflect.Interface {
		if ht := hintTypes[hint]; ht != nil && ht.Implements(t) {
			t = ht
		}
	}
	s.data = raw
	if h, err := readHead(raw, 0); err != nil {
		return nil, err
	} else if !fits(h, t) {
		// Refused at a glance, not after walking what may be millions of
		// elements.
		return nil, fmt.Errorf("cbor: cannot decode %s into a value of type %s", majorNames[h.major], t)
	}
	if err := s.add(decoderCost + alloc(int64(t.Size()))); err != nil {
		return nil, err
	}
	if _, err := s.walk(0, t, 0); err != nil {
		return nil, err
	}
	v, err := decodeInto(raw, t, "")
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// scalar reports whether raw is a CBOR item that holds no array or map
// (under any tags): decoding it plainly costs no more than its size.
func scalar(raw []byte) bool {
	for pos := 0; ; {
		h, err := readHead(raw, pos)
		if err != nil {
			return false
		}
		switch h.major {
		case 4, 5:
			return false
		case 6:
			pos += h.size
			continue
		}
		return true
	}
}

func describe(service, entrypoint, method string) string {
	s := fmt.Sprintf("service %q", service)
	if entrypoint != "" {
		s += fmt.Sprintf(" entrypoint %q", entrypoint)
	}
	if method == "" {
		return s + " Fetch"
	}
	return s + fmt.Sprintf(" method %q", method)
}

// serveFetch proxies a Fetch to the worker: the request as it came, less
// the transport's headers, and the worker's response as it is, both bodies
// streamed.
func (h *handler) serveFetch(w http.ResponseWriter, r *http.Request, p *principal) {
	service, ep := r.Header.Get(headerService), r.Header.Get(headerEntrypoint)
	if ep == "default" {
		ep = ""
	}
	if !p.allows(service, ep, "Fetch") {
		h.writeFetchError(w, r, h.denied(p, service, ep, ""))
		return
	}
	where := describe(service, ep, "")
	bad := func(format string, args ...any) {
		h.writeFetchError(w, r, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: %s", where, fmt.Sprintf(format, args...)))
	}
	var props any
	if v := r.Header.Get(headerProps); v != "" {
		data, err := connect.DecodeBinaryHeader(v)
		if err == nil {
			props, err = decodeAny(data, "")
		}
		if err != nil {
			bad("props: %v", err)
			return
		}
	}
	var md map[string]string
	if v := r.Header.Get(headerMetadata); v != "" {
		data, err := connect.DecodeBinaryHeader(v)
		if err == nil {
			err = decMode.Unmarshal(data, &md)
		}
		if err != nil {
			bad("metadata: %v", err)
			return
		}
	}
	depth := 1
	if v := r.Header.Get(headerDepth); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil {
			bad("depth %q: %v", v, err)
			return
		}
		depth = max(d, 1)
	}
	target, err := url.Parse(r.Header.Get(headerURL))
	if err != nil || !target.IsAbs() || target.Host == "" {
		bad("the request URL %q is not an absolute URL", r.Header.Get(headerURL))
		return
	}
	ctx := r.Context()
	if v := r.Header.Get(headerTimeout); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			bad("timeout %q", v)
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	ctx = transport.WithDepth(withReceived(ctx, md), depth-1)
	ctx, err = withCaller(ctx, r.Header.Get(headerCaller), where)
	if err != nil {
		h.writeFetchError(w, r, err)
		return
	}
	inner := r.Clone(ctx)
	inner.URL, inner.Host, inner.RequestURI = target, target.Host, ""
	for k := range inner.Header {
		if strings.HasPrefix(k, headerPrefix) {
			delete(inner.Header, k)
		}
	}
	b := h.reg.Bind(workers.Service{Service: service, Entrypoint: ep, Props: props})
	if err := h.servedHere(b, service, ep); err != nil {
		h.writeFetchError(w, r, err)
		return
	}
	// Both bodies may stream for as long as the caller allows.
	lift(w, ctx, true)
	// Over HTTP/1.1 too, the worker may answer while it still reads.
	_ = http.NewResponseController(w).EnableFullDuplex()
	resp, err := b.Fetch(inner)
	if err != nil {
		h.writeFetchError(w, r, err)
		return
	}
	defer resp.Body.Close()
	length := resp.ContentLength
	if length == 0 && resp.Body != http.NoBody {
		length = -1 // unknown, as net/http takes it: stream it, do not declare it
	}
	hdr := w.Header()
	for k, v := range resp.Header {
		hdr[k] = v
	}
	for k := range hdr {
		if strings.HasPrefix(k, headerPrefix) {
			delete(hdr, k)
		}
	}
	hdr.Set(headerResult, "ok")
	if length >= 0 && hdr.Get("Content-Length") == "" {
		hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	for k := range resp.Trailer {
		hdr.Add("Trailer", k)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	var dst io.Writer = w
	if length < 0 {
		// A stream: the caller gets the headers now, and each write as it
		// comes, not when a buffer fills.
		fw := httpx.NewFlushWriter(w)
		_ = fw.Flush()
		dst = fw
	}
	_, _ = io.Copy(dst, resp.Body)
	for k, v := range resp.Trailer {
		hdr[k] = v
	}
}

// writeFetchError answers a Fetch the runtime could not serve, with the
// error in a header for the Transport, which gives the caller the same
// error as in-process (an authenticated peer, as an RPC caller gets the
// callee's error). The body, for anyone else, names only the failure's
// kind when the worker failed, so a plain HTTP client is never shown a
// worker's error text. The request body may be unread: it is not waited
// for.
func (h *handler) writeFetchError(w http.ResponseWriter, r *http.Request, err error) {
	closeUnread(w, r)
	we, code := toWire(err, h.cfg.errors)
	hdr := w.Header()
	hdr.Set(headerResult, "error")
	if data, merr := encMode.Marshal(we); merr == nil {
		hdr.Set(headerError, connect.EncodeBinaryHeader(data))
	}
	if code == connect.CodeUnauthenticated {
		hdr.Set("WWW-Authenticate", `Bearer realm="workers"`)
	}
	status := httpStatus(code)
	text := we.Message
	if status >= 500 {
		text = "internal error"
	}
	http.Error(w, text, status)
}

// describeMethod describes the RPC method name of the entrypoint b targets, with
// the errors a call would give.
func describeMethod(b *workers.Binding, name string) (transport.MethodInfo, error) {
	return hooks().Method(b, name)
}

// hooks returns the runtime's hooks for transports.
func hooks() *link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env] {
	return link.Runtime.(*link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env])
}
