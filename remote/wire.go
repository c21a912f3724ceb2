package remote

import "github.com/fxamacker/cbor/v2"

// The wire: one connect-go unary procedure for RPC calls and one plain HTTP
// path for Fetch, both under [ServicePath]. Messages are plain Go structs
// encoded as CBOR by [Codec], so any connect, gRPC or gRPC-Web client with a
// CBOR codec can call a served registry.
const (
	// ServicePath is the path under which [NewHandler] serves, as a connect
	// service's path: mount the handler there.
	ServicePath = "/workers.remote.v1.Workers/"
	// CallProcedure is the connect procedure of an RPC call.
	CallProcedure = ServicePath + "Call"
	// FetchPath is the plain HTTP path of Fetch: the caller's request is
	// proxied there, its method, headers and body as they are.
	FetchPath = ServicePath + "Fetch"
)

// MaxMessageBytes is how large the serialized arguments (with props) of a
// call, or its serialized result, may be, as in Workers.
const MaxMessageBytes = 32 << 20

// envelopeBytes is headroom over MaxMessageBytes for the rest of a message
// (names, metadata), so that a call whose arguments are within the limit is
// never refused by connect's own limit.
const envelopeBytes = 1 << 20

// compressMinBytes is the size below which messages are not compressed
// (when the peer accepts gzip): for most calls, compressing costs more than
// sending the bytes.
const compressMinBytes = 16 << 10

// CallRequest is the message of one RPC call.
type CallRequest struct {
	Service    string            `cbor:"service"`
	Entrypoint string            `cbor:"entrypoint,omitempty"` // "" for the default entrypoint
	Method     string            `cbor:"method"`
	Args       []cbor.RawMessage `cbor:"args,omitempty"`  // each argument, CBOR-encoded
	Types      []string          `cbor:"types,omitempty"` // per argument, the name of a predeclared Go type, or ""
	Props      cbor.RawMessage   `cbor:"props,omitempty"` // the binding's props; absent when nil
	Depth      int               `cbor:"depth"`           // the callee's depth in its call chain
	Metadata   map[string]string `cbor:"metadata,omitempty"`
	Caller     string            `cbor:"caller,omitempty"` // the calling worker, as it names itself (informational)
}

// CallResponse is the message of a call's result. Errors are connect errors
// (see [WireError]).
type CallResponse struct {
	Result cbor.RawMessage `cbor:"result,omitempty"` // absent for a method without a result
	Type   string          `cbor:"type,omitempty"`   // the name of the result's predeclared Go type, or ""
}

// WireError is an error as it crosses the wire: in a connect error's
// metadata under the binary header Workers-Remote-Error-Bin (for RPC calls),
// or in that response header (for Fetch).
type WireError struct {
	Message    string          `cbor:"message"`
	Codes      []string        `cbor:"codes,omitempty"`      // the registered sentinels it matches (errors.Is)
	Panic      bool            `cbor:"panic,omitempty"`      // it is or wraps a *workers.PanicError
	PanicValue string          `cbor:"panicValue,omitempty"` // that panic's value, formatted
	Type       string          `cbor:"type,omitempty"`       // the name of the registered error type it holds
	Value      cbor.RawMessage `cbor:"value,omitempty"`      // that error, CBOR-encoded
}

// HTTP headers. The caller's own headers pass on Fetch untouched, except
// those starting with headerPrefix, which are the transport's.
const (
	headerPrefix     = "Workers-Remote-"
	headerAuth       = "Workers-Remote-Authorization"
	headerService    = "Workers-Remote-Service"
	headerEntrypoint = "Workers-Remote-Entrypoint"
	headerProps      = "Workers-Remote-Props"    // base64url CBOR
	headerMetadata   = "Workers-Remote-Metadata" // base64url CBOR
	headerDepth      = "Workers-Remote-Depth"
	headerCaller     = "Workers-Remote-Caller"
	headerURL        = "Workers-Remote-Url"
	headerTimeout    = "Workers-Remote-Timeout-Ms"
	headerResult     = "Workers-Remote-Result" // "ok" or "error" on every Fetch answer of the handler
	headerError      = "Workers-Remote-Error-Bin"
)
