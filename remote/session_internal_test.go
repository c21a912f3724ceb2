package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

type vault struct {
	workers.RpcTarget
	secret string
}

func (v *vault) Open() string { return v.secret }

type vaults struct{ workers.Entrypoint }

func (w *vaults) Make(secret string) *vault { return &vault{secret: secret} }

// A reference id is meaningful only in the session that received it:
// another session, of another credential or of the same one, that names it
// (as a call's target, or as a reference in an argument) reaches no object.
func TestSessionReferencesDoNotLeakAcrossSessions(t *testing.T) {
	reg := workers.NewRegistry()
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("vaults", workers.Worker{Default: workers.New[vaults]()}))
	mux := http.NewServeMux()
	mux.Handle(NewHandler(reg, AllowToken("alice", Allow{Service: "vaults"}), AllowToken("mallory", Allow{Service: "vaults"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := t.Context()

	caller := workers.NewRegistry()
	t.Cleanup(func() { _ = caller.Close(context.Background()) })
	require.NoError(t, Register(caller, "vaults", srv.URL, WithBearerToken("alice")))
	v, err := workers.Call[*workers.Stub](ctx, caller.Bind(workers.Service{Service: "vaults"}), "Make", "alice's")
	require.NoError(t, err)
	defer v.Close()
	imp, ok := hooks().TargetOf(v).(*importTarget)
	require.True(t, ok)
	id := imp.id

	for _, token := range []string{"mallory", "alice"} {
		t.Run(token, func(t *testing.T) {
			other := NewTransport(srv.URL, WithBearerToken(token))
			defer other.Close()
			s, err, unary := other.session(ctx, "test")
			require.NoError(t, err)
			require.False(t, unary)
			for guess := uint64(1); guess <= id+2; guess++ {
				res, err := s.call(ctx, nil, &frame{Op: opCall, Target: guess, Method: "Open"}, nil, nil, nil, ctx, "forged")
				assert.Nil(t, res)
				assert.ErrorIs(t, err, workers.ErrDisposed, "reference #%d", guess)
			}
			// As a reference of the server's own, in an argument.
			mark, _ := refMark{Kind: refYours | refTarget, ID: id}.MarshalCBOR()
			res, err := s.call(ctx, nil, &frame{Op: opCall, Service: "vaults", Method: "Make", Args: nil}, []any{rawArg(mark)}, nil, nil, ctx, "forged")
			assert.Nil(t, res)
			assert.ErrorIs(t, err, workers.ErrDisposed)
		})
	}
	got, err := workers.Call[string](ctx, v, "Open")
	require.NoError(t, err)
	assert.Equal(t, "alice's", got, "the reference still works where it belongs")
}

// A call ID is meaningful only in its session: another session, of
// another credential or of the same one, that pipes a call on alice's piped
// call reaches nothing (ErrDisposed), however it guesses; and the tables of
// pipelining are empty again once the piped stubs are closed.
func TestSessionPipesDoNotLeakAcrossSessions(t *testing.T) {
	reg := workers.NewRegistry()
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("vaults", workers.Worker{Default: workers.New[vaults]()}))
	var mu sync.Mutex
	var sessions []*session
	testServed = func(s *session) { mu.Lock(); sessions = append(sessions, s); mu.Unlock() }
	t.Cleanup(func() { testServed = nil })
	kept := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range sessions {
			s.mu.Lock()
			n += len(s.kept) + s.waiting
			s.mu.Unlock()
		}
		return n
	}
	mux := http.NewServeMux()
	mux.Handle(NewHandler(reg, AllowToken("alice", Allow{Service: "vaults"}), AllowToken("mallory", Allow{Service: "vaults"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := t.Context()

	caller := workers.NewRegistry()
	t.Cleanup(func() { _ = caller.Close(context.Background()) })
	alice := NewTransport(srv.URL, WithBearerToken("alice"))
	require.NoError(t, caller.RegisterRemote("vaults", alice))
	piped := workers.Pipe(ctx, caller.Bind(workers.Service{Service: "vaults"}), "Make", "alice's")
	got, err := workers.Call[string](ctx, piped, "Open")
	require.NoError(t, err)
	require.Equal(t, "alice's", got)
	require.Equal(t, 1, kept(), "the handler keeps the piped result")
	s, err, _ := alice.session(ctx, "test")
	require.NoError(t, err)
	s.mu.Lock()
	id := s.lastCall
	s.mu.Unlock()

	for _, token := range []string{"mallory", "alice"} {
		t.Run(token, func(t *testing.T) {
			other := NewTransport(srv.URL, WithBearerToken(token))
			defer other.Close()
			os, err, unary := other.session(ctx, "test")
			require.NoError(t, err)
			require.False(t, unary)
			// A hostile frame: the call is piped on an id of alice's session.
			for guess := uint64(1); guess <= id+2; guess++ {
				for os.lastCall < guess {
					_, _ = os.call(ctx, nil, &frame{Op: opCall, Service: "vaults", Method: "Nope"}, nil, nil, nil, ctx, "padding")
				}
				res, err := os.call(ctx, nil, &frame{Op: opCall, On: guess, Method: "Open"}, nil, nil, nil, ctx, "forged")
				assert.Nil(t, res)
				assert.ErrorIs(t, err, workers.ErrDisposed, "call #%d", guess)
				assert.ErrorContains(t, err, "there is no result of call")
			}
		})
	}
	got, err = workers.Call[string](ctx, piped, "Open")
	require.NoError(t, err)
	assert.Equal(t, "alice's", got, "the piped result still works where it belongs")

	require.NoError(t, piped.Close())
	assert.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.promises.Load() == 0 && len(s.calls) == 0
	}, 5*time.Second, time.Millisecond, "the caller's promise is released")
	assert.Eventually(t, func() bool { return kept() == 0 }, 5*time.Second, time.Millisecond,
		"the handler's kept result is released")
}

// rawArg is an argument already encoded.
type rawArg cbor.RawMessage

func (r rawArg) MarshalCBOR() ([]byte, error) { return r, nil }

// FuzzSessionDecode feeds arbitrary bytes to the decoder of session
// messages, and what decodes to the decoder of their values, which makes
// references of the marks it finds: nothing may panic.
func FuzzSessionDecode(f *testing.F) {
	for _, b := range sessionSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			return
		}
		s := newSession(context.Background(), true, "fuzz", sessionLimits{refs: 16, calls: 4}, func(*sessionBatch) error { return nil })
		defer s.end(errors.New("done"))
		types := []reflect.Type{anyType, reflect.TypeFor[int](), reflect.TypeFor[[]any](), reflect.TypeFor[map[string]any](),
			reflect.TypeFor[*workers.Stub](), reflect.TypeFor[func(int) (int, error)](), reflect.TypeFor[workers.Caller](),
			reflect.TypeFor[struct{ A any }]()}
		for i := range b.Frames {
			f := &b.Frames[i]
			d := &decoder{s: s, ctx: context.Background()}
			_, _ = d.args(types, false, f, "fuzz")
			if len(f.Result) > 0 {
				_, _ = s.returned(f, nil, nil, context.Background(), "fuzz")
			}
			d.release()
		}
	})
}

func sessionSeeds() [][]byte {
	mark := func(k uint8, id uint64) cbor.RawMessage {
		b, _ := refMark{Kind: k, ID: id}.MarshalCBOR()
		return b
	}
	one, _ := encMode.Marshal(1)
	nested, _ := encMode.Marshal(map[string]any{"a": refMark{Kind: refTarget, ID: 3}, "b": []any{refMark{Kind: refFunc, ID: 4}}})
	var seeds [][]byte
	for _, b := range []sessionBatch{
		{Frames: []frame{{Op: opHello, Version: sessionVersion}}},
		{Frames: []frame{{Op: opCall, ID: 1, Service: "s", Method: "M", Args: []cbor.RawMessage{one, mark(refTarget, 1)}, Types: []string{"int"}, Depth: 1, Timeout: 100}}},
		{Frames: []frame{{Op: opCall, ID: 2, Target: 7, Method: "", Args: []cbor.RawMessage{mark(refFunc, 2), nested}, Nested: true}}},
		{Frames: []frame{{Op: opReturn, ID: 1, Result: mark(refYours|refTarget, 1)}, {Op: opRelease, IDs: []uint64{1, 2}}, {Op: opCancel, ID: 2}}},
		{Frames: []frame{{Op: opReturn, ID: 3, Error: &WireError{Message: "x", Codes: []string{"disposed"}}}}},
		{Frames: []frame{{Op: opReturn, ID: 4, Result: nested, Nested: true}}},
		{Frames: []frame{{Op: opCall, ID: 5, Service: "s", Method: "M", Keep: true}, {Op: opCall, ID: 6, On: 5, Method: "N", Args: []cbor.RawMessage{mark(refYours|refTarget, 1)}, Keep: true}, {Op: opCall, ID: 7, On: 6, Method: "O"}}},
		{Frames: []frame{{Op: opForget, IDs: []uint64{5, 6}}, {Op: opCancel, ID: 7}}},
		{Frames: []frame{{Op: opCall, ID: 3, On: 3, Method: "M"}, {Op: opCall, ID: 9, On: 2, Target: 1, Method: "M"}}},
	} {
		data, err := encMode.Marshal(&b)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

// A session message is refused before it is decoded when it holds more
// frames, or more arguments in all, than a message may.
func TestSessionMessageBounds(t *testing.T) {
	many := make([]frame, maxBatchFrames+1)
	for i := range many {
		many[i] = frame{Op: opCancel, ID: uint64(i + 1)}
	}
	data, err := encMode.Marshal(&sessionBatch{Frames: many})
	require.NoError(t, err)
	_, err = decodeBatch(data)
	assert.ErrorIs(t, err, errProtocol)
	assert.ErrorContains(t, err, "at most 1024 frames")

	args := make([]cbor.RawMessage, maxBatchElements/2+1)
	for i := range args {
		args[i] = cbor.RawMessage{0xf6}
	}
	two := []frame{{Op: opCall, ID: 1, Service: "s", Args: args}, {Op: opCall, ID: 2, Service: "s", Args: args}}
	data, err = encMode.Marshal(&sessionBatch{Frames: two})
	require.NoError(t, err)
	_, err = decodeBatch(data)
	assert.ErrorContains(t, err, "at most 65536 arguments, types and ids in all")

	var b sessionBatch
	require.NoError(t, Codec{}.Unmarshal(func() []byte { d, _ := encMode.Marshal(&sessionBatch{Frames: two[:1]}); return d }(), &b), "one frame of 32769 arguments is within bounds")
	assert.Len(t, b.Frames[0].Args, len(args))
}
