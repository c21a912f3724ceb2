// Package httpx holds the small pieces of HTTP plumbing that the runtime's
// handler and package remote's share.
package httpx

import (
	"io"
	"net/http"
)

// FlushWriter writes to w and flushes after every write, so that a streamed
// body reaches the client as it comes, not when a buffer fills.
type FlushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

// NewFlushWriter returns a FlushWriter for w.
func NewFlushWriter(w http.ResponseWriter) FlushWriter {
	return FlushWriter{w: w, rc: http.NewResponseController(w)}
}

// Flush sends what has been written so far, headers included.
func (f FlushWriter) Flush() error { return f.rc.Flush() }

func (f FlushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		_ = f.rc.Flush()
	}
	return n, err
}
