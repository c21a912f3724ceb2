package remote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"

	"connectrpc.com/connect"

	"github.com/seed-29c11ff2/workers"
)

var (
	// ErrUnauthenticated: the handler did not recognize the caller's
	// credentials (HTTP 401). No worker was reached.
	ErrUnauthenticated = errors.New("remote: unauthenticated")
	// ErrPermissionDenied: the caller's credentials do not allow that
	// service, entrypoint or method (HTTP 403). No worker was reached.
	ErrPermissionDenied = errors.New("remote: permission denied")
)

// A code is how one sentinel error crosses the wire: its name, and the
// connect code (so the HTTP status) of a call that fails with it.
type code struct {
	name    string
	err     error
	connect connect.Code
}

// codes is the code table, in the order a call's error is matched: every
// sentinel the error wraps is sent, the first one choosing the status.
var (
	codesMu sync.RWMutex
	codes   = []code{
		{"unauthenticated", ErrUnauthenticated, connect.CodeUnauthenticated},
		{"permission_denied", ErrPermissionDenied, connect.CodePermissionDenied},
		{"service_not_found", workers.ErrServiceNotFound, connect.CodeNotFound},
		{"entrypoint_not_found", workers.ErrEntrypointNotFound, connect.CodeNotFound},
		{"method_not_found", workers.ErrMethodNotFound, connect.CodeNotFound},
		{"reserved_method", workers.ErrReservedMethod, connect.CodeInvalidArgument},
		{"no_fetch_handler", workers.ErrNoFetchHandler, connect.CodeUnimplemented},
		{"invalid_argument", workers.ErrInvalidArgument, connect.CodeInvalidArgument},
		{"invalid_result", workers.ErrInvalidResult, connect.CodeFailedPrecondition},
		{"depth_exceeded", workers.ErrDepthExceeded, connect.CodeResourceExhausted},
		{"closed", workers.ErrClosed, connect.CodeUnavailable},
		{"unavailable", workers.ErrUnavailable, connect.CodeUnavailable},
		{"invalid_worker", workers.ErrInvalidWorker, connect.CodeInternal},
		{"namespace_not_found", workers.ErrNamespaceNotFound, connect.CodeNotFound},
		{"deadline_exceeded", context.DeadlineExceeded, connect.CodeDeadlineExceeded},
		{"canceled", context.Canceled, connect.CodeCanceled},
	}
	byName = func() map[string]code {
		m := make(map[string]code, len(codes))
		for _, c := range codes {
			m[c.name] = c
		}
		return m
	}()
)

// RegisterSentinel makes err, a sentinel error value such as io.EOF or a
// package's ErrNotFound, survive the wire under name: a caller whose callee
// returns an error wrapping err gets one for which errors.Is(got, err) holds.
// Register it, under the same name, in the calling and the serving program,
// from an init function or before serving; or name it once for both sides
// with [Sentinel] and [WithErrors]. Every workers.Err* sentinel,
// [ErrUnauthenticated], [ErrPermissionDenied], context.Canceled and
// context.DeadlineExceeded are registered already. It panics if name is
// taken by another error.
func RegisterSentinel(name string, err error) {
	if name == "" || err == nil {
		panic("remote: RegisterSentinel needs a name and an error")
	}
	codesMu.Lock()
	defer codesMu.Unlock()
	if c, ok := byName[name]; ok {
		if c.err == err {
			return
		}
		panic(fmt.Sprintf("remote: RegisterSentinel: name %q is taken by %v", name, c.err))
	}
	c := code{name: name, err: err, connect: connect.CodeUnknown}
	codes = append(codes, c)
	byName[name] = c
}

// Error types registered to cross the wire, by name and by type.
var (
	typesMu   sync.RWMutex
	typeNames = map[reflect.Type]string{}
	nameTypes = map[string]reflect.Type{}
)

// RegisterError makes errors of type T survive the wire under name: when a
// callee's error is or wraps a T, its value is sent (encoded as CBOR, so
// exported fields travel) and the caller gets an error for which errors.As
// finds a T. T is usually a pointer to a struct:
//
//	remote.RegisterError[*NegativeError]("calc.NegativeError")
//
// Register it, under the same name, in the calling and the serving program,
// from an init function or before serving; or name it once for both sides
// with [ErrorType] and [WithErrors]. It panics if name or T is
// registered already with another partner.
func RegisterError[T error](name string) {
	t := reflect.TypeFor[T]()
	if name == "" {
		panic("remote: RegisterError needs a name")
	}
	if t.Kind() == reflect.Interface {
		panic(fmt.Sprintf("remote: RegisterError[%s]: need a concrete type", t))
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	if n, ok := typeNames[t]; ok && n != name {
		panic(fmt.Sprintf("remote: RegisterError: type %s is registered as %q", t, n))
	}
	if old, ok := nameTypes[name]; ok && old != t {
		panic(fmt.Sprintf("remote: RegisterError: name %q is taken by %s", name, old))
	}
	typeNames[t], nameTypes[name] = name, t
}

// A KnownError is an error that keeps its identity over the wire: a
// sentinel value ([Sentinel]) or an error type ([ErrorType]), under a name
// that the calling and the serving side share. Pass a package's known
// errors to both sides with [WithErrors].
type KnownError struct {
	name string
	err  error        // a sentinel, or nil
	typ  reflect.Type // an error type, or nil
}

// Sentinel names a sentinel error value, such as a package's ErrNotFound,
// for [WithErrors]: a caller whose callee returns an error wrapping err
// gets one for which errors.Is(got, err) holds.
func Sentinel(name string, err error) KnownError {
	if name == "" || err == nil {
		panic("remote: Sentinel needs a name and an error")
	}
	return KnownError{name: name, err: err}
}

// ErrorType names an error type for [WithErrors]: when a callee's error is
// or wraps a T, its value is sent (exported fields, as CBOR) and the caller
// gets an error for which errors.As finds a T. T is usually a pointer to a
// struct.
func ErrorType[T error](name string) KnownError {
	t := reflect.TypeFor[T]()
	if name == "" {
		panic("remote: ErrorType needs a name")
	}
	if t.Kind() == reflect.Interface {
		panic(fmt.Sprintf("remote: ErrorType[%s]: need a concrete type", t))
	}
	return KnownError{name: name, typ: t}
}

// WithErrors makes errs keep their identity over the calls of a
// [Transport] or a handler ([NewHandler]), beside those registered for the
// whole process ([RegisterSentinel], [RegisterError]) and the runtime's
// own. Identity crosses only when both sides know the error under the same
// name: define the list once, beside the errors, in a package both the
// calling and the serving program import, and pass it to both sides:
//
//	// package calc
//	var RemoteErrors = remote.WithErrors(
//		remote.Sentinel("calc.ErrNegative", ErrNegative),
//		remote.ErrorType[*OverflowError]("calc.OverflowError"),
//	)
//
//	// serving
//	mux.Handle(remote.NewHandler(reg, remote.AllowToken(token, allow), calc.RemoteErrors))
//	// calling
//	remote.Register(reg, "calc", url, remote.WithBearerToken(token), calc.RemoteErrors)
//	// or, from a config file's address
//	workers.NewRegistry(workers.WithDialer(remote.Dialer(remote.WithBearerToken(token), calc.RemoteErrors)))
//
// Any other error reaches the caller with its message only. WithErrors
// panics if two of errs share a name, or if a name is registered for the
// whole process as another error.
func WithErrors(errs ...KnownError) Option {
	k := &knownErrors{byName: map[string]code{}, typeNames: map[reflect.Type]string{}, nameTypes: map[string]reflect.Type{}}
	for _, e := range errs {
		if e.name == "" {
			panic("remote: WithErrors: an error without a name (make them with Sentinel or ErrorType)")
		}
		codesMu.RLock()
		g, taken := byName[e.name]
		codesMu.RUnlock()
		typesMu.RLock()
		gt := nameTypes[e.name]
		typesMu.RUnlock()
		if (taken && g.err != e.err) || (gt != nil && gt != e.typ) {
			panic(fmt.Sprintf("remote: WithErrors: name %q is registered for the process as another error", e.name))
		}
		if e.err != nil {
			if c, dup := k.byName[e.name]; dup && c.err != e.err {
				panic(fmt.Sprintf("remote: WithErrors: name %q is given twice", e.name))
			}
			c := code{name: e.name, err: e.err, connect: connect.CodeUnknown}
			k.codes = append(k.codes, c)
			k.byName[e.name] = c
			continue
		}
		if old, dup := k.nameTypes[e.name]; dup && old != e.typ {
			panic(fmt.Sprintf("remote: WithErrors: name %q is given twice", e.name))
		}
		if n, dup := k.typeNames[e.typ]; dup && n != e.name {
			panic(fmt.Sprintf("remote: WithErrors: type %s is given twice, as %q and %q", e.typ, n, e.name))
		}
		k.typeNames[e.typ], k.nameTypes[e.name] = e.name, e.typ
	}
	return knownOption{k}
}

type knownOption struct{ k *knownErrors }

func (o knownOption) applyToClient(c *clientConfig)   { c.errors = c.errors.merge(o.k) }
func (o knownOption) applyToHandler(c *handlerConfig) { c.errors = c.errors.merge(o.k) }

// knownErrors are the errors of one Transport or handler ([WithErrors]).
// Immutable once made.
type knownErrors struct {
	codes     []code
	byName    map[string]code
	typeNames map[reflect.Type]string
	nameTypes map[string]reflect.Type
}

// merge returns the errors of k and more. It panics where they give one
// name to two errors.
func (k *knownErrors) merge(more *knownErrors) *knownErrors {
	if k == nil {
		return more
	}
	m := &knownErrors{
		codes:     slices.Clone(k.codes),
		byName:    maps.Clone(k.byName),
		typeNames: maps.Clone(k.typeNames),
		nameTypes: maps.Clone(k.nameTypes),
	}
	for _, c := range more.codes {
		if old, ok := m.byName[c.name]; ok {
			if old.err != c.err {
				panic(fmt.Sprintf("remote: WithErrors: name %q is given to two errors", c.name))
			}
			continue
		}
		m.codes = append(m.codes, c)
		m.byName[c.name] = c
	}
	for n, t := range more.nameTypes {
		if old, ok := m.nameTypes[n]; ok && old != t {
			panic(fmt.Sprintf("remote: WithErrors: name %q is given to two errors", n))
		}
		if old, ok := m.typeNames[t]; ok && old != n {
			panic(fmt.Sprintf("remote: WithErrors: type %s is given two names, %q and %q", t, old, n))
		}
		m.nameTypes[n], m.typeNames[t] = t, n
	}
	return m
}

// registeredIn finds the first registered error type in err's tree: one
// registered for the process, else one of k's.
func registeredIn(err error, k *knownErrors) (string, error) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	name, found := typeIn(err, typeNames)
	if found == nil && k != nil {
		name, found = typeIn(err, k.typeNames)
	}
	return name, found
}

func typeIn(err error, typeNames map[reflect.Type]string) (string, error) {
	if len(typeNames) == 0 {
		return "", nil
	}
	var name string
	var found error
	var walk func(error) bool
	walk = func(e error) bool {
		if e == nil {
			return false
		}
		if n, ok := typeNames[reflect.TypeOf(e)]; ok {
			name, found = n, e
			return true
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			return walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	walk(err)
	return name, found
}

// toWire describes err for the wire, with the errors known to the process
// and k, and picks the connect code of a call that fails with it.
func toWire(err error, k *knownErrors) (*WireError, connect.Code) {
	we := &WireError{Message: err.Error()}
	status := connect.CodeUnknown
	var pe *workers.PanicError
	if errors.As(err, &pe) {
		// The value, not the stack: the callee's stack stays where it ran.
		we.Panic, we.PanicValue, status = true, fmt.Sprint(pe.Value), connect.CodeInternal
	}
	codesMu.RLock()
	for _, c := range codes {
		if errors.Is(err, c.err) {
			if len(we.Codes) == 0 && !we.Panic {
				status = c.connect
			}
			we.Codes = append(we.Codes, c.name)
		}
	}
	codesMu.RUnlock()
	if k != nil {
		for _, c := range k.codes {
			if errors.Is(err, c.err) && !slices.Contains(we.Codes, c.name) {
				we.Codes = append(we.Codes, c.name)
			}
		}
	}
	if name, e := registeredIn(err, k); e != nil {
		if data, merr := encMode.Marshal(e); merr == nil && len(data) <= maxErrorBytes {
			we.Type, we.Value = name, data
		}
	}
	if len(we.Message) > maxErrorBytes {
		we.Message = we.Message[:maxErrorBytes] + "..."
	}
	return we, status
}

// maxErrorBytes bounds an error's message and value, which travel in
// headers.
const maxErrorBytes = 64 << 10

// fromWire rebuilds an error the handler sent, with the errors known to
// the process and k.
func fromWire(we *WireError, k *knownErrors) error {
	var causes []error
	codesMu.RLock()
	for _, n := range we.Codes {
		if c, ok := byName[n]; ok {
			causes = append(causes, c.err)
		} else if c, ok := k.code(n); ok {
			causes = append(causes, c.err)
		}
	}
	codesMu.RUnlock()
	if slices.Contains(we.Codes, "closed") && !slices.Contains(we.Codes, "unavailable") {
		// A registry closed over there is, from here, a service unavailable.
		causes = append(causes, workers.ErrUnavailable)
	}
	if we.Panic {
		causes = append(causes, &workers.PanicError{Value: we.PanicValue})
	}
	if we.Type != "" {
		typesMu.RLock()
		t := nameTypes[we.Type]
		typesMu.RUnlock()
		if t == nil && k != nil {
			t = k.nameTypes[we.Type]
		}
		if t != nil {
			if v, err := decodeInto(we.Value, t, ""); err == nil {
				if e, ok := v.Interface().(error); ok && e != nil && !isNilPointer(v) {
					if e.Error() == we.Message && coveredBy(e, causes) {
						return e // the error itself: errors.As and == work
					}
					causes = append(causes, e)
				}
			}
		}
	}
	return &wireError{msg: we.Message, causes: causes}
}

func (k *knownErrors) code(name string) (code, bool) {
	if k == nil {
		return code{}, false
	}
	c, ok := k.byName[name]
	return c, ok
}

func isNilPointer(v reflect.Value) bool { return v.Kind() == reflect.Pointer && v.IsNil() }

// coveredBy reports whether e already matches every sentinel in causes.
func coveredBy(e error, causes []error) bool {
	for _, c := range causes {
		if !errors.Is(e, c) {
			return false
		}
	}
	return true
}

// wireError is a callee's error rebuilt on the caller: its message, and the
// sentinels and registered errors it matched.
type wireError struct {
	msg    string
	causes []error
}

func (e *wireError) Error() string   { return e.msg }
func (e *wireError) Unwrap() []error { return e.causes }

// callError is an error the transport itself reports about a call.
type callError struct {
	msg    string
	causes []error
}

func (e *callError) Error() string   { return e.msg }
func (e *callError) Unwrap() []error { return e.causes }

func errorf(causes []error, format string, args ...any) error {
	return &callError{msg: fmt.Sprintf(format, args...), causes: causes}
}

// sizeError is Workers' message for a value over the limit.
func sizeError(where string, n int) error {
	return errorf([]error{workers.ErrInvalidArgument},
		"workers: %s: Serialized RPC arguments or return values are limited to 32MiB, but the size of this value was: %d bytes.", where, n)
}

// httpStatus is the HTTP status of a connect code, as the Connect protocol
// maps it, for Fetch answers.
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}
