// Package bench measures a binding call against a direct call, an interface
// call and peer RPC systems run in-process (net/rpc, gRPC, connect-go), on
// the same Add(a, b int) int. It is its own module so that the library does
// not depend on what it is compared with. See README.md.
package bench

import "github.com/seed-29c11ff2/workers"

//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen

// Adder is the worker every benchmark calls.
type Adder struct{ workers.Entrypoint }

// Add is the method measured.
func (w *Adder) Add(a, b int) int { return a + b }

// Payload is about 1 KiB of data with references, to measure argument copy.
type Payload struct {
	ID     int
	Name   string
	Tags   []string
	Values []float64
}

// Echo returns its argument; the runtime copies it both ways.
func (w *Adder) Echo(p Payload) Payload { return p }

// Bytes returns the length of b, which the runtime copies on the way in.
func (w *Adder) Bytes(b []byte) int { return len(b) }

// AdderTarget is an RpcTarget with the same Add, called through a stub.
type AdderTarget struct{ workers.RpcTarget }

// Add is the method measured.
func (t *AdderTarget) Add(a, b int) int { return a + b }

// Target returns an AdderTarget, which reaches the caller as a stub.
func (w *Adder) Target() *AdderTarget { return &AdderTarget{} }

// Next returns another AdderTarget: chains of dependent calls, piped or
// not, go Target, Next, Add.
func (t *AdderTarget) Next() *AdderTarget { return &AdderTarget{} }
