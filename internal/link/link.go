// Package link lets package codegen (what generated code calls) and package
// remote reach the runtime's internals without package workers exporting
// them: workers fills [Runtime] in its init, and [Dispatchers] holds what
// generated code registers.
//
// The hooks are typed by a generic struct, instantiated with the runtime's
// own types (*workers.Binding, *workers.Ctx, *workers.Env), because this
// package cannot import package workers, which imports it.
package link

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/seed-29c11ff2/workers/internal/shim"
	"github.com/seed-29c11ff2/workers/transport"
)

// Hooks are the runtime's entry points for generated clients and
// transports. B, C and E are *workers.Binding, *workers.Ctx and
// *workers.Env.
type Hooks[B, C, E any] struct {
	// Begin opens a typed client's call; worker is a nil *T naming the
	// client's worker type. The client puts inv in the Ctx it holds on its
	// stack. See codegen.Begin.
	Begin func(ctx context.Context, b B, method string, worker any) (inv Invocation, env E, mode int, err error)
	// End closes a call Begin opened; panicked is what the deferred
	// function recovered. It returns the *PanicError to report, if any.
	End func(inv Invocation, method string, panicked any) error
	// Construct opens a call on a fresh instance made by the worker's
	// constructor, when the target is a local worker of the type worker
	// names; the call must be closed with End.
	Construct func(ctx context.Context, b B, method string, worker any) (inst any, c C, local bool, err error)
	// Copy copies v with the copy semantics of a call.
	Copy func(v reflect.Value) (reflect.Value, error)
	// NeedsCopy reports whether values of t need a copy to cross a call.
	NeedsCopy func(t reflect.Type) bool
	// Method describes an RPC method of the entrypoint b targets.
	Method func(b B, name string) (transport.MethodInfo, error)
	// Local reports whether the worker b targets runs in this registry
	// (not through a transport), with the error a call would give when b
	// does not resolve.
	Local func(b B) (bool, error)
	// NewStub returns the first reference (a *workers.Stub) to t, an
	// object a transport reaches in another process. When t has a method
	// Registry() any, returning a *workers.Registry, calls through the stub
	// made outside any invocation pass that registry's interceptors.
	NewStub func(t Target) any
	// Revoke releases every reference to the target of s (a *workers.Stub)
	// now: calls through any of them fail with workers.ErrDisposed.
	Revoke func(s any)
	// Logger returns the logger of the registry b belongs to.
	Logger func(b B) *slog.Logger
	// Tasks returns the count of the WaitUntil tasks of the registry b
	// belongs to.
	Tasks func(b B) *Tasks
	// Services returns the names of the workers registered in the registry
	// b belongs to, sorted.
	Services func(b B) []string
	// CallMethod describes the method that call, a *workers.CallInfo of a
	// call in-process, runs.
	CallMethod func(call any) (transport.MethodInfo, error)
	// Uncopyable returns the index of the first of args that could not
	// cross a call in-process (references aside), and why; a nil error
	// when all can.
	Uncopyable func(args []any) (int, error)
	// CallRegistry returns the registry (a *workers.Registry) that makes
	// call, a *workers.CallInfo, or nil.
	CallRegistry func(call any) any
	// Export returns a new reference (a *workers.Stub) to v, an RpcTarget
	// or a *workers.Stub, for a transport to send: a target is exported by
	// reg (a *workers.Registry) or, when reg is nil, by the registry of the
	// invocation ctx belongs to. A released stub is workers.ErrDisposed.
	Export func(ctx context.Context, reg, v any) (any, error)
	// IsTarget reports whether values of t cross by reference as
	// RpcTargets.
	IsTarget func(t reflect.Type) bool
	// TargetOf returns the Target a transport made s (a *workers.Stub)
	// with, or nil when s refers to something else.
	TargetOf func(s any) Target
	// StubMethod describes the method name of the RpcTarget of this
	// process that s (a *workers.Stub) refers to; ok is false when s refers
	// to no target of this process.
	StubMethod func(s any, name string) (mi transport.MethodInfo, ok bool, err error)
	// Hold gives s (a *workers.Stub) to the invocation ctx belongs to, to
	// release when it ends; it reports false when ctx is in none.
	Hold func(ctx context.Context, s any) bool
	// Caller returns the context of the caller of the invocation ctx is
	// (the context a transport's Call receives), or ctx itself when it is
	// no invocation's.
	Caller func(ctx context.Context) context.Context
	// RegistryOf returns the registry (a *workers.Registry) of the
	// invocation ctx belongs to, or nil.
	RegistryOf func(ctx context.Context) any
	// Depth returns the call-chain depth of the invocation ctx belongs to,
	// or 0.
	Depth func(ctx context.Context) int
	// Worker names the worker whose invocation ctx belongs to, or, in a
	// call a transport serves, the caller its peer reported; "" for none.
	Worker func(ctx context.Context) string
	// Object returns a stub (a *workers.Stub) of the Durable Object id (64
	// hex digits, as a peer sent it) of class of service, a worker reg (a
	// *workers.Registry) runs itself, with the description of its method;
	// a malformed ID, an ID of another namespace, a class or worker not
	// hosted by reg are errors that say so.
	Object func(reg any, service, class, id, method string) (stub any, mi transport.MethodInfo, err error)
	// BindingVia returns a binding (a *workers.Binding) whose calls go
	// through s (a *workers.Stub a transport made of a peer's binding),
	// released with s.
	BindingVia func(s any) B
	// ViaOf returns the *workers.Stub a binding that BindingVia made calls
	// through, or nil for any other binding.
	ViaOf func(b B) any
}

// A Target is what a stub made by a transport calls: a reference held by
// a peer process.
type Target interface {
	// Call runs method on the target; result is the type the caller asks
	// for (workers.Call), or nil for any.
	Call(ctx context.Context, method string, args []any, result reflect.Type) (any, error)
	// Release is called once, after the last reference is released.
	Release()
	// Describe names the target in messages.
	Describe() string
}

// A PipeTarget is a Target that can pipeline: workers.Pipe on its stub
// sends the call and returns at once, and calls on the result travel
// behind it (see transport.Pipeliner).
type PipeTarget interface {
	Target
	Pipe(ctx context.Context, method string, args []any) transport.Pending
}

// Invocation is what a workers.Ctx knows of its invocation. It is the Ctx's
// first field, so that package codegen can fill a Ctx that a generated
// client holds on its stack (see codegen.Begin).
type Invocation struct {
	Parent context.Context // the caller's context, with props when there are some
	Entry  any             // the callee, a *workers.entrypoint; nil outside an invocation
	Held   *Scope          // references the invocation received as results, released when it ends
	Depth  int16           // in the call chain
}

// A Scope holds references (stubs) to release together: those an
// invocation received, or those a call's arguments made. The zero Scope is
// ready to use.
type Scope struct {
	mu      sync.Mutex
	closers []io.Closer
	done    bool
}

// Add hands c to the scope, or closes it at once when the scope has ended.
func (s *Scope) Add(c io.Closer) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

// End closes everything the scope holds; later Adds close at once.
func (s *Scope) End() {
	if s == nil {
		return
	}
	s.mu.Lock()
	closers := s.closers
	s.closers, s.done = nil, true
	s.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
}

// Runtime is the *Hooks that package workers set.
var Runtime any

// A Dispatcher is the generated method table of one worker type.
type Dispatcher struct {
	Hash    string               // the method set it was generated for
	Methods map[string]shim.Func // by method name
}

// Dispatchers maps a worker's struct type (reflect.Type) to its *Dispatcher.
var Dispatchers sync.Map

// How a generated client makes a call (codegen.Mode).
const (
	Direct    = iota // on a zero instance the client holds itself
	Construct        // through Invoke, which runs a NewFunc constructor
	Remote           // through Binding.Call: not a local worker of the client's type
)

// A D1Driver opens the SQLite files of D1 databases for
// workers.Registry.RegisterConfig. Package d1 registers one when it is
// imported, as a database/sql driver does.
type D1Driver interface {
	// Open opens or creates the database file.
	Open(file string) (io.Closer, error)
	// Migrate applies the migrations in dir to db, each once, recording
	// them in the table named (or the default table, for "").
	Migrate(db io.Closer, dir, table string) error
}

var d1 atomic.Pointer[D1Driver]

// RegisterD1 installs the D1 driver.
func RegisterD1(d D1Driver) { d1.Store(&d) }

// D1 returns the D1 driver, or nil when package d1 is not linked in.
func D1() D1Driver {
	if d := d1.Load(); d != nil {
		return *d
	}
	return nil
}

// Tasks counts WaitUntil tasks so that they can be waited for without
// closing a registry: every task of a registry (see Hooks.Tasks), or those
// of the invocations whose context carries a Tasks (see WithTasks). The
// zero Tasks is ready to use.
type Tasks struct {
	mu      sync.Mutex
	id      string // what Share returned; "" until it is called
	n       int
	idle    chan struct{} // closed when n drops to 0; nil while it is 0
	errs    []error
	Collect bool // keep the tasks' errors for Wait
}

// Add counts a task that has started.
func (g *Tasks) Add() {
	g.mu.Lock()
	if g.n == 0 {
		g.idle = make(chan struct{})
	}
	g.n++
	g.mu.Unlock()
}

// Done counts a task that has ended with err.
func (g *Tasks) Done(err error) {
	g.mu.Lock()
	if err != nil && g.Collect {
		g.errs = append(g.errs, err)
	}
	g.n--
	if g.n == 0 {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Wait waits until no task is running, or ctx ends, and returns the
// errors of the tasks that ended (when Collect is set) and ctx's error.
func (g *Tasks) Wait(ctx context.Context) error {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(append(append([]error(nil), g.errs...), err)...)
}

type tasksKey struct{}

// WithTasks returns a context whose invocations count their WaitUntil
// tasks, and those of the calls they make in-process, in g.
func WithTasks(ctx context.Context, g *Tasks) context.Context {
	inUse.Store(true)
	return context.WithValue(ctx, tasksKey{}, g)
}

// inUse is set once a context carries a Tasks: until then (in a program
// that does not use the test kit) no call needs to look for one.
var inUse atomic.Bool

// TasksInUse reports whether any context of this process has carried a
// Tasks: when not, [TasksOf] is nil for every context.
func TasksInUse() bool { return inUse.Load() }

// shared maps the ids Share gave to their groups, weakly: a group no test
// holds any more is forgotten.
var shared sync.Map // string -> weak.Pointer[Tasks]

// Share returns an id that names g to [SharedTasks], so that a call that
// crosses to another registry of this process through a transport (which
// carries no context values) can count its tasks in g.
func (g *Tasks) Share() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.id == "" {
		g.id = randomHex()
		shared.Store(g.id, weak.Make(g))
		runtime.AddCleanup(g, func(id string) { shared.Delete(id) }, g.id)
	}
	return g.id
}

// SharedTasks returns the group Share named id, or nil.
func SharedTasks(id string) *Tasks {
	if w, ok := shared.Load(id); ok {
		return w.(weak.Pointer[Tasks]).Value()
	}
	return nil
}

// TasksOf returns the Tasks of ctx, or nil.
func TasksOf(ctx context.Context) *Tasks {
	g, _ := ctx.Value(tasksKey{}).(*Tasks)
	return g
}

// Turns: a Durable Object call in progress (a turn) holds its object, and
// a call chain that comes back to the object runs inside it instead of
// waiting for itself. In-process, the chain is in the context; across
// processes, a turn that a call leaves the process from gets a token (see
// [NewTurnToken]), the call carries the tokens of its chain, and the
// serving side puts them in the callee's context ([WithTurns]), where the
// object finds its current turn's token.

// TurnTokens, set by package workers, appends to dst the tokens of the
// Durable Object turns in progress in ctx's chain, giving each a token on
// first use.
var TurnTokens func(ctx context.Context, dst []string) []string

var (
	turnNonce = sync.OnceValue(randomHex)
	turnCount atomic.Uint64
)

// NewTurnToken returns a token no other turn of any process has: this
// process's random nonce and a counter, "nonce-counter".
func NewTurnToken() string {
	n := turnCount.Add(1)
	return turnNonce() + "-" + strconv.FormatUint(n, 10)
}

// MaxTurns bounds the tokens a call carries, MaxTurnTokenBytes each.
const (
	MaxTurns          = 16
	MaxTurnTokenBytes = 32 + 1 + 20
)

// ValidTurnToken reports whether s has the shape NewTurnToken gives.
func ValidTurnToken(s string) bool {
	if len(s) < 34 || len(s) > MaxTurnTokenBytes || s[32] != '-' {
		return false
	}
	for i := range 32 {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	for i := 33; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

type turnsKey struct{}

// WithTurns returns a context carrying tokens, the turns a peer's call
// runs inside.
func WithTurns(ctx context.Context, tokens []string) context.Context {
	if len(tokens) == 0 {
		return ctx
	}
	return context.WithValue(ctx, turnsKey{}, tokens)
}

// TurnsOf returns the tokens WithTurns put in ctx, not to be changed.
func TurnsOf(ctx context.Context) []string {
	t, _ := ctx.Value(turnsKey{}).([]string)
	return t
}

// InTurn reports whether ctx runs inside the turn of token.
func InTurn(ctx context.Context, token string) bool {
	return slices.Contains(TurnsOf(ctx), token)
}

// randomHex returns 128 random bits as 32 hex digits: an id no one can
// guess (crypto/rand never fails on the platforms Go supports).
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
