package remote

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/seed-29c11ff2/workers/transport"
)

// sessionOpenTimeout bounds how long opening a session may take.
const sessionOpenTimeout = 30 * time.Second

// sessions is a Transport's session with its handler: one at a time,
// opened by the first call that needs it and again after it ended.
type sessions struct {
	mu      sync.Mutex
	cur     *session
	attempt *openAttempt
	unary   bool // the handler or the protocol carries no sessions: unary calls only
	client  *connect.Client[sessionBatch, sessionBatch]
	limits  sessionLimits
}

type openAttempt struct {
	done  chan struct{}
	s     *session
	err   error
	unary bool
}

// callSession makes call through the session; ok is false when there can
// be none, for the call to go unary.
func (t *Transport) callSession(ctx context.Context, call *transport.Call, where string) (res any, err error, ok bool) {
	for try := 0; ; try++ {
		s, err, unary := t.session(ctx, where)
		if unary {
			return nil, nil, false
		}
		if err != nil {
			return nil, err, true
		}
		s.adopt(hooks().RegistryOf(ctx))
		f := &frame{Op: opCall, Service: call.Service, Entrypoint: call.Entrypoint, Method: call.Method, Depth: call.Depth, Caller: sentCaller(call.Caller)}
		res, err = s.call(ctx, nil, f, call.Args, call.Props, call.Result, hooks().Caller(ctx), where)
		if err != nil && errors.Is(err, errNotSent) && try < 2 {
			continue // the session ended before the call left: through a new one
		}
		return res, err, true
	}
}

// session returns the open session, opening one if there is none. unary
// is true when sessions are not to be had from this handler.
func (t *Transport) session(ctx context.Context, where string) (*session, error, bool) {
	ss := &t.sess
	ss.mu.Lock()
	if ss.unary {
		ss.mu.Unlock()
		return nil, nil, true
	}
	if s := ss.cur; s != nil && !s.ended.Load() {
		ss.mu.Unlock()
		return s, nil, false
	}
	a := ss.attempt
	if a == nil {
		a = &openAttempt{done: make(chan struct{})}
		ss.attempt = a
		ss.mu.Unlock()
		a.s, a.err, a.unary = t.open(where)
		ss.mu.Lock()
		ss.attempt = nil
		ss.cur, ss.unary = a.s, a.unary
		ss.mu.Unlock()
		close(a.done)
	} else {
		ss.mu.Unlock()
	}
	select {
	case <-a.done:
		return a.s, a.err, a.unary
	case <-ctx.Done():
		err := ctx.Err()
		return nil, errorf([]error{err}, "workers: %s: %v", where, err), false
	}
}

// open opens a session with the handler.
func (t *Transport) open(where string) (*session, error, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	stream := t.sess.client.CallBidiStream(ctx)
	if t.token != "" {
		stream.RequestHeader().Set(headerAuth, "Bearer "+t.token)
	}
	timer := time.AfterFunc(sessionOpenTimeout, cancel)
	err := stream.Send(&sessionBatch{Frames: []frame{{Op: opHello, Version: sessionVersion}}})
	var hello *sessionBatch
	if err == nil || errors.Is(err, io.EOF) {
		hello, err = stream.Receive()
	}
	timer.Stop()
	if err == nil && (len(hello.Frames) == 0 || hello.Frames[0].Op != opHello || hello.Frames[0].Version < 1) {
		err = errors.New("the handler did not answer the session's hello")
	}
	if err != nil {
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
		cancel()
		var ce *connect.Error
		if errors.As(err, &ce) && wireErrorIn(ce.Meta().Get(headerError)) == nil && noSessions(ce) {
			return nil, nil, true
		}
		return nil, t.failed(context.Background(), where, err), false
	}
	s := newSession(context.Background(), false, "the handler at "+t.base, t.sess.limits, stream.Send)
	s.errs = t.errors
	s.version = hello.Frames[0].Version
	s.closer = func() {
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
		cancel()
	}
	for i := 1; i < len(hello.Frames); i++ {
		_ = s.handle(&hello.Frames[i])
	}
	go s.run(stream.Receive)
	go s.watch()
	return s, nil, false
}

// noSessions reports whether ce says that this handler or protocol carries
// no sessions (an older handler, HTTP/1.1, gRPC-Web): calls go unary.
func noSessions(ce *connect.Error) bool {
	switch ce.Code() {
	case connect.CodeUnimplemented, connect.CodeNotFound:
		return true
	}
	// A bidirectional stream over HTTP/1.1: connect's handler answers 505.
	return strings.Contains(ce.Message(), "HTTP status 505")
}

// closeSession ends the Transport's session, if one is open: the
// handler's stubs held through it fail with ErrDisposed, and the handler
// releases what it held of this side.
func (t *Transport) closeSession() {
	ss := &t.sess
	ss.mu.Lock()
	s := ss.cur
	ss.cur = nil
	ss.mu.Unlock()
	if s == nil {
		return
	}
	s.end(unavailable(s.peer, errors.New("the Transport was closed")))
	<-s.stopped
	s.wg.Wait()
}
