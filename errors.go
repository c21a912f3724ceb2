package workers

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a call returns that comes from the runtime
// (not from the callee) wraps one of these, so callers match them with
// [errors.Is]; the message names the service, entrypoint and method.
var (
	// ErrMethodNotFound: the entrypoint has no RPC method of that name
	// (Workers: `The RPC receiver does not implement the method "X".`), or
	// the method's signature cannot be called over RPC.
	ErrMethodNotFound = errors.New("workers: method not found")
	// ErrReservedMethod: the method is reserved for the runtime, as Fetch is
	// for HTTP (Workers: `'fetch' is a reserved method and cannot be called over RPC.`).
	ErrReservedMethod = errors.New("workers: reserved method")
	// ErrServiceNotFound: no worker is registered under the service name, or
	// the caller's Env has no service binding of that name.
	ErrServiceNotFound = errors.New("workers: service not found")
	// ErrEntrypointNotFound: the worker has no such named entrypoint, or no
	// default entrypoint when the binding names none.
	ErrEntrypointNotFound = errors.New("workers: entrypoint not found")
	// ErrNoFetchHandler: the entrypoint has no Fetch method
	// (Workers: "Handler does not export a fetch() function.").
	ErrNoFetchHandler = errors.New("workers: no fetch handler")
	// ErrNoScheduledHandler: the worker's default entrypoint has no
	// Scheduled method (Workers: "Handler does not export a scheduled()
	// function."), or the worker runs in another process.
	ErrNoScheduledHandler = errors.New("workers: no scheduled handler")
	// ErrInvalidArgument: the arguments do not fit the method's parameters,
	// or a value cannot cross the invocation boundary.
	ErrInvalidArgument = errors.New("workers: invalid argument")
	// ErrInvalidResult: [Call] got a result that is not of the type asked for.
	ErrInvalidResult = errors.New("workers: invalid result")
	// ErrDepthExceeded: the call chain recursed through workers more than
	// the depth limit allows (Workers: "Subrequest depth limit exceeded.").
	ErrDepthExceeded = errors.New("workers: subrequest depth limit exceeded")
	// ErrClosed: the registry is closed and takes no new calls.
	ErrClosed = errors.New("workers: registry closed")
	// ErrInvalidWorker: Register refused a worker; the message says why.
	ErrInvalidWorker = errors.New("workers: invalid worker")
	// ErrInvalidConfig: a configuration file could not be used; the message
	// names the file and the key or line.
	ErrInvalidConfig = errors.New("workers: invalid configuration")
	// ErrDisposed: a call went through a [Stub] that was released, or whose
	// target is gone (Workers: "RPC stub used after being disposed.").
	ErrDisposed = errors.New("workers: RPC stub used after being disposed.")
	// ErrUnavailable: a remote worker could not be reached.
	ErrUnavailable = errors.New("workers: service unavailable")
)

// callError is a runtime error about one call: its message says what went
// wrong and where, and it unwraps to its sentinel (and, for argument errors,
// to the cause).
type callError struct {
	kind  error
	msg   string
	cause error
}

func (e *callError) Error() string { return e.msg }

func (e *callError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func newError(kind error, format string, args ...any) error {
	return &callError{kind: kind, msg: "workers: " + fmt.Sprintf(format, args...)}
}

// PanicError is returned by a call whose callee panicked. The panic is
// recovered so that the caller, the registry and the process keep working.
type PanicError struct {
	Value any    // what the callee passed to panic
	Stack []byte // the callee's stack at the panic
	where string
}

func (e *PanicError) Error() string {
	if e.where == "" {
		return fmt.Sprintf("workers: panic: %v", e.Value)
	}
	return fmt.Sprintf("workers: %s panicked: %v", e.where, e.Value)
}

// Unwrap returns the panic value when it is an error, so that
// errors.Is(err, io.EOF) holds for panic(io.EOF).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
