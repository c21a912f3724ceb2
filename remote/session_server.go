package remote

import (
	"context"

	"connectrpc.com/connect"
)

// testServed, when set (by tests), sees each session a handler serves.
var testServed func(*session)

// serveSession serves one session: the calls a Transport makes, through
// it, of the registry's services and of the references it holds, and the
// calls the registry's workers make of the references the Transport sent.
// The stream was authenticated as a unary call is (see ServeHTTP); every
// call of a service entrypoint, and of a binding passed back, is held to
// the principal's Allow rules.
func (h *handler) serveSession(ctx context.Context, stream *connect.BidiStream[sessionBatch, sessionBatch]) error {
	var p *principal
	if c, _ := ctx.Value(principalKey{}).(*caller); c != nil {
		p = c.p
		lift(c.w, ctx, true) // a session lasts as long as its peer keeps it
	}
	s := newSession(ctx, true, "the client at "+stream.Peer().Addr, h.cfg.session, stream.Send)
	s.reg, s.h, s.p, s.errs = h.reg, h, p, h.cfg.errors
	if testServed != nil {
		testServed(s)
	}
	if err := s.out.push(frame{Op: opHello, Version: sessionVersion}); err != nil {
		s.end(unavailable(s.peer, err))
		return err
	}
	err := s.run(stream.Receive)
	s.wg.Wait()
	if err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}
