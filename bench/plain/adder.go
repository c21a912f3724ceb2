// Package plain holds the Adder without generated code, so that calls to it
// take the runtime's own path: a method table built at Register and a shim
// for the method's shape (or reflection), not a generated dispatcher.
package plain

import "github.com/seed-29c11ff2/workers"

// Adder is bench.Adder without workers_gen.go.
type Adder struct{ workers.Entrypoint }

// Add is the method measured.
func (w *Adder) Add(a, b int) int { return a + b }

// AdderTarget is an RpcTarget with the same Add, called through a stub.
type AdderTarget struct{ workers.RpcTarget }

// Add is the method measured.
func (t *AdderTarget) Add(a, b int) int { return a + b }

// Target returns an AdderTarget, which reaches the caller as a stub.
func (w *Adder) Target() *AdderTarget { return &AdderTarget{} }
