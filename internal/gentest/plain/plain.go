// Package plain holds the twin of gentest.Calc without generated code, so
// that calls to it take the reflective path.
package plain

import (
	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/gentest"
)

// Calc has the same methods as gentest.Calc.
type Calc struct {
	workers.Entrypoint
	gentest.Methods
}
