package wrangler

import (
	"math"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tomlDocs are documents on the edges of TOML's rules about defining keys
// and tables, valid and not. The builder must agree with toml.Unmarshal on
// each: same tree, or both an error.
var tomlDocs = []string{
	"",
	"a = 1\nb = 2\n",
	"a = 1\na = 2\n",
	"a.b = 1\na.c = 2\n",
	"a.b = 1\na = 2\n",
	"a = 1\na.b = 2\n",
	"a.b.c = 1\n[a.d]\ne = 1\n",
	"a.b = 1\n[a]\n",
	"a.b = 1\n[a.b]\n",
	"[a]\n[a]\n",
	"[a.b]\n[a]\n",
	"[a.b]\n[a]\nb.c = 1\n",
	"[a]\nb.c = 1\n[a.b]\n",
	"[a]\nb.c = 1\n[a.b.d]\n",
	"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
	"[[a]]\nb = 1\n[[a]]\nb = 2\n",
	"[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2\n",
	"[[a]]\n[[a.b]]\nc = 1\n[[a.b]]\nc = 2\n[[a]]\n[[a.b]]\n",
	"[[a]]\n[a]\n",
	"[a]\n[[a]]\n",
	"a = []\n[[a]]\n",
	"a = [{b = 1}]\n[[a]]\n",
	"a = {b = 1}\n[a]\n",
	"a = {b = 1}\na.c = 2\n",
	"a = {b.c = 1, b.d = 2}\n",
	"a = {b = 1, b = 2}\n",
	"a = {b.c = 1, b = 2}\n",
	"a = [{b = 1, b = 2}]\n",
	"a = [[{b = 1}], {c = {d = 1}}]\n",
	"[a]\nb = 1\n[a.c]\nd = 2\n[e]\n",
	"\"a.b\" = 1\na.b = 2\n'a' = 3\n",
	"[ a . \"b\" . c ]\nd = 1\n",
	"i = [0x_1]\n",
	"i = [0xff, 0o17, 0b101, +1_000, -9223372036854775808, 9223372036854775807]\n",
	"i = 9223372036854775808\n",
	"i = 0x7fffffffffffffff\ni2 = 0x8000000000000000\n",
	"f = [1.5, -0.0, 1e10, 1_000.5e-3, inf, -inf, +inf, nan, -nan]\n",
	"f = 1e400\n",
	"d = [1979-05-27, 07:32:00, 07:32:00.999999, 1979-05-27T07:32:00, 1979-05-27 07:32:00.5]\n",
	"d = [1979-05-27T07:32:00Z, 1979-05-27T00:32:00.999999-07:00, 1979-05-27t07:32:00z, 1979-05-27T07:32:00+00:00]\n",
	"d = 1979-02-30\n",
	"d = 1979-05-27T25:00:00Z\n",
	"d = 1979-05-27T07:32:00+24:00\n",
	"d = 07:32\nd2 = 1979-05-27T07:32Z\n",
	"s = [\"a\\tb\", 'c\\d', \"\"\"\nx\"\"\", '''y''']\n",
	"a = [ # c\n 1, # d\n 2,\n]\n",
	"a = 1 # c\n# d\n[b] # e\n",
	"a = \"\xff\"\n",
	"a\r\n",
	"a = 1\r\nb = 2\r\n",
}

func TestTOMLTreeMatchesUnmarshal(t *testing.T) {
	for _, doc := range tomlDocs {
		checkTOMLTree(t, []byte(doc))
	}
}

// FuzzTOMLTree checks the builder against toml.Unmarshal on any input.
func FuzzTOMLTree(f *testing.F) {
	for _, doc := range tomlDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTOMLTree(t, data)
	})
}

func checkTOMLTree(t *testing.T, data []byte) {
	t.Helper()
	d := &decoder{file: "w.toml", format: formatTOML}
	got, err := d.decodeTOML(data)
	var want map[string]any
	wantErr := toml.Unmarshal(data, &want)
	if wantErr != nil {
		require.Error(t, err, "%q: toml.Unmarshal fails with %v", data, wantErr)
		e, ok := err.(*Error)
		require.True(t, ok, "%q: error %v is %T", data, err, err)
		assert.Positive(t, e.Line, "%q: error %v has no line", data, err)
		return
	}
	require.NoError(t, err, "%q: toml.Unmarshal succeeds", data)
	if want == nil {
		want = map[string]any{}
	}
	if !sameTree(got, want) {
		t.Errorf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

// sameTree compares decoded trees, with NaN equal to NaN and times equal
// when they are the same instant in the same offset.
func sameTree(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !sameTree(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameTree(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && (a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b))
	case time.Time:
		b, ok := b.(time.Time)
		_, ao := a.Zone()
		_, bo := b.Zone()
		return ok && a.Equal(b) && ao == bo
	}
	return a == b
}

// The line index gives the positions that counting from the start does.
func TestLineColumnIndex(t *testing.T) {
	for _, data := range []string{"", "\n", "a", "ab\ncd\n\nef", "\n\nx\n"} {
		d := &decoder{data: []byte(data)}
		for off := -1; off <= len(data)+1; off++ {
			line, col := d.lineColumn(off)
			wantLine, wantCol := lineColumn([]byte(data), off)
			assert.Equal(t, [2]int{wantLine, wantCol}, [2]int{line, col}, "%q at %d", data, off)
		}
	}
}
