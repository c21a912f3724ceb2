package remote

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// Call metadata is a small per-call channel of string pairs beside the
// arguments, for what belongs to the request rather than to the method:
// W3C trace context (traceparent, tracestate), baggage, request ids. A remote
// call sends the metadata of its context; the callee's context (its
// context.Context parameter and its Ctx) carries what was sent, so a nested
// call passes it on to the next hop without any code.

type metadataKey struct{}

// WithMetadata returns a copy of ctx whose call metadata has key set to
// value. Keys are case-insensitive and kept in lower case, as HTTP/2 header
// names are:
//
//	ctx = remote.WithMetadata(ctx, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//
// Package otelworkers's interceptor propagates OpenTelemetry's context so:
// it injects it into a propagation.MapCarrier and copies the pairs in with
// WithMetadata; on the serving side, it extracts it from a MapCarrier made
// of [Metadata].
//
// The key "workers-turns" is reserved: it carries the Durable Object
// turns a call runs inside (see [Transport.CallDurableObject]); setting it
// here does nothing, and [Metadata] never shows it.
func WithMetadata(ctx context.Context, key, value string) context.Context {
	key = strings.ToLower(key)
	if key == turnsKey {
		return ctx
	}
	md := make(map[string]string, len(metadataOf(ctx))+1)
	maps.Copy(md, metadataOf(ctx))
	md[key] = value
	return context.WithValue(ctx, metadataKey{}, md)
}

// Metadata returns the call metadata of ctx: what [WithMetadata] set and,
// inside a remote call, what the caller sent. The map is a copy; it is nil
// when there is none.
func Metadata(ctx context.Context) map[string]string {
	return maps.Clone(metadataOf(ctx))
}

// metadataOf returns the metadata of ctx, not to be changed: every context
// holds its own map.
func metadataOf(ctx context.Context) map[string]string {
	if ctx == nil {
		return nil
	}
	md, _ := ctx.Value(metadataKey{}).(map[string]string)
	return md
}

// withReceived puts the metadata a caller sent into the callee's context.
func withReceived(ctx context.Context, md map[string]string) context.Context {
	if len(md) == 0 {
		return ctx
	}
	clean := make(map[string]string, len(md))
	for k, v := range md {
		k = strings.ToLower(k)
		if k == turnsKey {
			ctx = link.WithTurns(ctx, receivedTurns(v))
			continue
		}
		clean[k] = v
	}
	if len(clean) == 0 {
		return ctx
	}
	if id := clean[tasksKey]; id != "" {
		if g := link.SharedTasks(id); g != nil {
			ctx = link.WithTasks(ctx, g)
		}
	}
	return context.WithValue(ctx, metadataKey{}, clean)
}

// tasksKey is the metadata key that names the test kit's group of
// WaitUntil tasks (workerstest.Tasks) a call's context carries, so that a
// call served in this process for a peer in this process (an in-memory
// remote hop) counts its tasks in the caller's group. An id that names no
// group of this process is ignored.
const tasksKey = "workers-tasks"

// sentMetadata is the metadata a call made with ctx sends: ctx's, the id
// of its group of tasks, if it has one, and the Durable Object turns it
// runs inside, if any.
func sentMetadata(ctx context.Context) map[string]string {
	md := metadataOf(ctx)
	var id string
	if g := link.TasksOf(ctx); g != nil {
		if id = g.Share(); md[tasksKey] == id {
			id = ""
		}
	}
	turns := sentTurns(ctx)
	if id == "" && turns == "" {
		return md
	}
	out := make(map[string]string, len(md)+2)
	maps.Copy(out, md)
	if id != "" {
		out[tasksKey] = id
	}
	if turns != "" {
		out[turnsKey] = turns
	}
	return out
}

// turnsKey is the reserved metadata key that carries the Durable Object
// turns a call runs inside, so that a chain that comes back to an object
// it is inside (object A, a worker in another process, object A again)
// runs instead of waiting for itself, as it does in-process: the tokens
// of the turns (link.NewTurnToken, given to a turn only when a call leaves
// the process inside it), at most link.MaxTurns of them, comma-separated.
// The serving side drops tokens of another shape and puts the rest in the
// callee's context, out of its metadata; a call made there passes them on.
//
// Tokens are unguessable (a random nonce per process) but no security
// boundary: a peer that guessed one could only make its call run inside a
// turn that is in progress, as the chain's own calls do.
const turnsKey = "workers-turns"

// sentTurns is the value of turnsKey a call made with ctx sends: the
// turns of its chain in this process, then those a peer's call it runs in
// carried, or "" for none.
func sentTurns(ctx context.Context) string {
	recv := link.TurnsOf(ctx)
	var buf [4]string
	toks := link.TurnTokens(ctx, buf[:0])
	if len(toks) == 0 && len(recv) == 0 {
		return ""
	}
	for _, t := range recv {
		if len(toks) == link.MaxTurns {
			break
		}
		if !slices.Contains(toks, t) {
			toks = append(toks, t)
		}
	}
	return strings.Join(toks, ",")
}

// receivedTurns parses the value of turnsKey a peer sent, dropping what
// is not a token and what is past link.MaxTurns.
func receivedTurns(v string) []string {
	if len(v) > link.MaxTurns*(link.MaxTurnTokenBytes+1) {
		return nil
	}
	var out []string
	for t := range strings.SplitSeq(v, ",") {
		if len(out) == link.MaxTurns {
			break
		}
		if link.ValidTurnToken(t) {
			out = append(out, t)
		}
	}
	return out
}

// The caller's name: a call carries the name of the worker that makes it
// (transport.Call.Caller), so that the serving registry's interceptors and
// logs can say who called (workers.CallInfo.Caller). The peer reports it
// itself, so it is informational only: the credential the handler checks
// (AllowToken, AllowCertificate) decides what a call may reach, and anyone
// holding that credential can send any name.

// sentCaller is the caller's name as a call carries it: none rather than
// one over transport.MaxCallerBytes.
func sentCaller(name string) string {
	if len(name) > transport.MaxCallerBytes {
		return ""
	}
	return name
}

// withCaller puts the caller's name a peer sent into the callee's context,
// refusing one over transport.MaxCallerBytes.
func withCaller(ctx context.Context, name, where string) (context.Context, error) {
	if len(name) > transport.MaxCallerBytes {
		return ctx, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: the caller's name is %d bytes long, over the limit of %d", where, len(name), transport.MaxCallerBytes)
	}
	return transport.WithCaller(ctx, name), nil
}
