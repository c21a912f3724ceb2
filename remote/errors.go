package remote

import (
	"context"
	"errors"
	"fmt"
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
// from an init function or before serving. Every workers.Err* sentinel,
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
// from an init function or before serving. It panics if name or T is
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

// registeredIn finds the first registered error type in err's tree.
func registeredIn(err error) (string, error) {
	typesMu.RLock()
	defer typesMu.RUnlock()
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

// toWire describes err for the wire, and picks the connect code of a call
// that fails with it.
func toWire(err error) (*WireError, connect.Code) {
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
	if name, e := registeredIn(err); e != nil {
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

// fromWire rebuilds an error the handler sent.
func fromWire(we *WireError) error {
	var causes []error
	codesMu.RLock()
	for _, n := range we.Codes {
		if c, ok := byName[n]; ok {
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
