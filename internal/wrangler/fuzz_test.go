package wrangler_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
)

// FuzzParse feeds each input to Parse as all three formats. Parse may
// reject it, but only with an *Error naming the file; what it accepts must
// be usable: a name, and vars and props that encode as JSON.
//
// The seed corpus, in testdata/fuzz/FuzzParse, is kept to small files:
// the fuzzer minimizes each new input it finds, and on large ones that
// takes most of a short run.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, path := range []string{"wrangler.toml", "wrangler.json", "wrangler.jsonc"} {
			file, err := wrangler.Parse(path, data)
			if err != nil {
				if file != nil {
					t.Errorf("%s: Parse returned a File and error %v", path, err)
				}
				e, ok := errors.AsType[*wrangler.Error](err)
				if !ok {
					t.Fatalf("%s: error %v is %T, want *wrangler.Error", path, err, err)
				}
				if e.File != path || !errors.Is(err, wrangler.ErrInvalid) {
					t.Errorf("%s: error %q does not name the file or wrap ErrInvalid", path, err)
				}
				if e.Key == "" && e.Line == 0 {
					t.Errorf("%s: error %q has neither key nor line", path, err)
				}
				continue
			}
			if file.Name == "" || file.Path != path {
				t.Errorf("%s: accepted file has Name %q, Path %q", path, file.Name, file.Path)
			}
			if _, err := json.Marshal(file.Vars); err != nil {
				t.Errorf("%s: vars do not encode: %v", path, err)
			}
			for _, s := range file.Services {
				if s.Binding == "" || s.Service == "" {
					t.Errorf("%s: accepted service %+v", path, s)
				}
				if _, err := json.Marshal(s.Props); err != nil {
					t.Errorf("%s: props do not encode: %v", path, err)
				}
			}
			for _, db := range file.D1Databases {
				if db.Binding == "" || db.MigrationsTable == "" {
					t.Errorf("%s: accepted d1 database %+v", path, db)
				}
			}
		}
	})
}
