package workers_test

import (
	"errors"
	"testing"

	"github.com/seed-29c11ff2/workers"
)

// FuzzIDFromString: an ID string comes from users (a URL, a cookie). It is
// accepted only as 64 hex digits of this namespace, and what is accepted
// prints back the same (in lowercase).
func FuzzIDFromString(f *testing.F) {
	reg := workers.NewRegistry(workers.WithStateDir(f.TempDir()))
	f.Cleanup(func() { _ = reg.Close(f.Context()) })
	if err := reg.Register("app", counterWorker()); err != nil {
		f.Fatal(err)
	}
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Counter"})
	f.Add(ns.IDFromName("seed").String())
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ns.IDFromString(s)
		if err != nil {
			if !errors.Is(err, workers.ErrInvalidArgument) {
				t.Fatalf("%q: error %v is not ErrInvalidArgument", s, err)
			}
			if !id.IsZero() {
				t.Fatalf("%q: error with a non-zero ID", s)
			}
			return
		}
		back, err := ns.IDFromString(id.String())
		if err != nil || !back.Equal(id) || len(id.String()) != 64 {
			t.Fatalf("%q: accepted as %s, which reads back as %s, %v", s, id, back, err)
		}
	})
}
