package remote

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// A session is one bidirectional connect stream (procedure
// [SessionProcedure]) between a [Transport] and a handler, over which calls
// travel in both directions with their results, and references
// (RpcTargets, stubs, funcs, Bindings) cross by reference, Cap'n Web style:
// each side keeps an export table (id -> its own object the peer holds a
// reference to) and an import table (id -> a stub of the peer's object).
// Every message of the stream is a [sessionBatch] of frames; a reference
// inside a value is CBOR tag [tagRef] around [kind, id].

// SessionProcedure is the connect procedure of a session: a bidirectional
// stream of CBOR messages, served by [NewHandler] next to [CallProcedure].
const SessionProcedure = ServicePath + "Session"

// sessionVersion is the version of the session protocol a hello carries.
// Version 2 added calls of Durable Objects (frame fields Class and
// Object), which a Transport makes only of a handler that speaks it.
const sessionVersion = 2

// objectsVersion is the first session version that carries calls of
// Durable Objects.
const objectsVersion = 2

// Frame operations.
const (
	opHello   uint8 = 1 // first frame each way: the protocol version
	opCall    uint8 = 2 // a call: of a service entrypoint (Target 0) or of the receiver's export Target
	opReturn  uint8 = 3 // the result (Result, or Error) of the call ID the receiver made
	opRelease uint8 = 4 // the sender holds no more references to the receiver's exports IDs
	opCancel  uint8 = 5 // the sender's call ID is canceled: its context is done
	opForget  uint8 = 6 // the sender pipes no more calls on the results of its calls IDs (see Keep)
)

// sessionBatch is one message of a session stream: frames sent together.
type sessionBatch struct {
	Frames []frame `cbor:"1,keyasint"`
}

// frame is one operation of a session.
type frame struct {
	Op         uint8             `cbor:"1,keyasint"`
	ID         uint64            `cbor:"2,keyasint,omitempty"` // the call, numbered by its caller
	Target     uint64            `cbor:"3,keyasint,omitempty"` // opCall: the receiver's export, 0 for a service entrypoint
	Service    string            `cbor:"4,keyasint,omitempty"`
	Entrypoint string            `cbor:"5,keyasint,omitempty"`
	Method     string            `cbor:"6,keyasint,omitempty"`
	Args       []cbor.RawMessage `cbor:"7,keyasint,omitempty"`
	Types      []string          `cbor:"8,keyasint,omitempty"`
	Props      cbor.RawMessage   `cbor:"9,keyasint,omitempty"`
	Depth      int               `cbor:"10,keyasint,omitempty"`
	Metadata   map[string]string `cbor:"11,keyasint,omitempty"`
	Timeout    int64             `cbor:"12,keyasint,omitempty"` // ms left of the caller's deadline, 0 for none
	Result     cbor.RawMessage   `cbor:"13,keyasint,omitempty"` // absent for no result
	Type       string            `cbor:"14,keyasint,omitempty"`
	Error      *WireError        `cbor:"15,keyasint,omitempty"`
	Nested     bool              `cbor:"16,keyasint,omitempty"` // references inside the args' or result's values
	IDs        []uint64          `cbor:"17,keyasint,omitempty"` // opRelease: the receiver's export ids
	Version    int               `cbor:"18,keyasint,omitempty"` // opHello
	Caller     string            `cbor:"19,keyasint,omitempty"` // opCall: the calling worker, as it names itself (informational)
	Class      string            `cbor:"20,keyasint,omitempty"` // opCall of a Durable Object: its class, of Service
	Object     string            `cbor:"21,keyasint,omitempty"` // opCall of a Durable Object: its ID, 64 hex digits
	// Pipelining: a call with Keep asks the receiver to keep its result
	// under the call's ID, for calls piped on it, until an opForget; a call
	// with On is made on the kept result of the sender's earlier call On,
	// which may not exist yet (it then waits for it), instead of on a
	// Target or a Service. IDs are the sender's call IDs of this session:
	// no other session can name them.
	On   uint64 `cbor:"22,keyasint,omitempty"`
	Keep bool   `cbor:"23,keyasint,omitempty"`
}

// tagRef is the CBOR tag of a reference: tag(27100)[kind, id].
const tagRef = 27100

// Reference kinds. refYours marks an id of the receiver's own export table
// (a reference going back where it came from); the others name an export
// of the sender.
const (
	refTarget  uint8 = 1    // an RpcTarget, or a stub of one: called by method name
	refFunc    uint8 = 2    // a func: called with the method name ""
	refBinding uint8 = 3    // a *workers.Binding: called by method name
	refYours   uint8 = 0x80 // flag: the id is the receiver's export
)

// refMark is a reference inside a value.
type refMark struct {
	_    struct{} `cbor:",toarray"`
	Kind uint8
	ID   uint64
}

// MarshalCBOR encodes the mark as tag(27100)[kind, id].
func (m refMark) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 0, 16)
	b = append(b, 0xd9, byte(tagRef>>8), byte(tagRef&0xff), 0x82)
	b = appendUint(b, uint64(m.Kind))
	return appendUint(b, m.ID), nil
}

// refHead is how a value that is a reference starts.
var refHead = [3]byte{0xd9, byte(tagRef >> 8), byte(tagRef & 0xff)}

// isRef reports whether raw is a reference.
func isRef(raw []byte) bool {
	return len(raw) > 3 && raw[0] == refHead[0] && raw[1] == refHead[1] && raw[2] == refHead[2]
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 24:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0x18, byte(v))
	case v <= 0xffff:
		return append(b, 0x19, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, 0x1a, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, 0x1b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// sessionDec decodes session values: as decMode, and tag 27100 into a
// refMark wherever an interface holds it.
var sessionDec cbor.DecMode

func init() {
	tags := cbor.NewTagSet()
	if err := tags.Add(cbor.TagOptions{EncTag: cbor.EncTagRequired, DecTag: cbor.DecTagRequired}, reflect.TypeFor[refMark](), tagRef); err != nil {
		panic(err)
	}
	opts := decMode.DecOptions()
	var err error
	if sessionDec, err = opts.DecModeWithTags(tags); err != nil {
		panic(err)
	}
}

// errProtocol marks a frame that breaks the session protocol: the session
// ends.
var errProtocol = errors.New("remote: session protocol violation")

// Bounds of one message of a session, checked before it is decoded, so
// that a small message cannot make millions of values: its frames, and the
// arguments (with their types and released ids) and metadata pairs of all
// its frames together.
const (
	maxBatchFrames   = 1024
	maxBatchElements = maxArgs
)

type batchShape struct {
	Frames countOf `cbor:"1,keyasint"`
}

type framesShape struct {
	Frames []frameShape `cbor:"1,keyasint"`
}

type frameShape struct {
	Args     countOf `cbor:"7,keyasint"`
	Types    countOf `cbor:"8,keyasint"`
	Metadata countOf `cbor:"11,keyasint"`
	IDs      countOf `cbor:"17,keyasint"`
}

// unmarshalBatch decodes a session message within its bounds.
func unmarshalBatch(data []byte, b *sessionBatch) error {
	var shape batchShape
	if err := decMode.Unmarshal(data, &shape); err != nil {
		return err
	}
	if shape.Frames.n > maxBatchFrames {
		return fmt.Errorf("%w: a session message may hold at most %d frames", errProtocol, maxBatchFrames)
	}
	var frames framesShape
	if err := decMode.Unmarshal(data, &frames); err != nil {
		return err
	}
	elems, pairs := 0, 0
	for _, f := range frames.Frames {
		elems += f.Args.n + f.Types.n + f.IDs.n
		pairs += f.Metadata.n
	}
	switch {
	case elems > maxBatchElements:
		return fmt.Errorf("%w: a session message may hold at most %d arguments, types and ids in all", errProtocol, maxBatchElements)
	case pairs > maxMetadataPairs:
		return fmt.Errorf("%w: a session message may hold at most %d metadata pairs in all", errProtocol, maxMetadataPairs)
	}
	return decMode.Unmarshal(data, b)
}

// decodeBatch decodes one message of a session stream and checks each
// frame's shape; what a frame refers to is checked where it is used.
func decodeBatch(data []byte) (*sessionBatch, error) {
	var b sessionBatch
	if err := unmarshalBatch(data, &b); err != nil {
		return nil, err
	}
	for i := range b.Frames {
		if err := b.Frames[i].check(); err != nil {
			return nil, fmt.Errorf("%w: frame %d: %v", errProtocol, i, err)
		}
	}
	return &b, nil
}

// check refuses a frame whose fields do not fit its operation.
func (f *frame) check() error {
	switch f.Op {
	case opHello:
		if f.Version < 1 {
			return fmt.Errorf("hello without a version")
		}
	case opCall:
		if f.ID == 0 {
			return fmt.Errorf("call without an id")
		}
		if f.Target == 0 && f.Service == "" && f.On == 0 {
			return fmt.Errorf("call %d names neither a service, a reference nor a call to pipe on", f.ID)
		}
		if f.On != 0 && (f.Target != 0 || f.Service != "") {
			return fmt.Errorf("call %d is piped on call %d and names a service or a reference too", f.ID, f.On)
		}
		if f.On >= f.ID {
			return fmt.Errorf("call %d is piped on call %d, which is not an earlier one", f.ID, f.On)
		}
		if f.Class != "" || f.Object != "" {
			switch {
			case f.Target != 0:
				return fmt.Errorf("call %d names both a reference and a Durable Object", f.ID)
			case f.Class == "":
				return fmt.Errorf("call %d names an object ID without its class", f.ID)
			case f.Entrypoint != "" || len(f.Props) > 0:
				return fmt.Errorf("call %d of a Durable Object names an entrypoint or props", f.ID)
			}
		}
		if len(f.Types) > len(f.Args) {
			return fmt.Errorf("call %d: %d types for %d arguments", f.ID, len(f.Types), len(f.Args))
		}
		if f.Timeout < 0 {
			return fmt.Errorf("call %d: negative timeout", f.ID)
		}
	case opReturn, opCancel:
		if f.ID == 0 {
			return fmt.Errorf("op %d without an id", f.Op)
		}
	case opRelease, opForget:
		if len(f.IDs) == 0 {
			return fmt.Errorf("op %d of nothing", f.Op)
		}
	default:
		return fmt.Errorf("unknown op %d", f.Op)
	}
	return nil
}
