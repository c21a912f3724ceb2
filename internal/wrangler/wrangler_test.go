package wrangler_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
)

// full is what every testdata/full.* file describes.
func full(path string) *wrangler.File {
	return &wrangler.File{
		Path:               path,
		Name:               "worker-a",
		Main:               "src/index.ts",
		CompatibilityDate:  "2024-09-23",
		CompatibilityFlags: []string{"nodejs_compat", "no_global_navigator"},
		Vars: map[string]any{
			"GREETING": "hello",
			"DEBUG":    true,
			"RETRIES":  int64(3),
			"RATIO":    0.5,
			"WHOLE":    2.0,
			"REGIONS":  []any{"eu", "us"},
			"LIMITS":   map[string]any{"max": int64(3), "burst": 1.5},
			"NESTED": map[string]any{
				"deep": map[string]any{"list": []any{int64(1), "two", false}},
			},
		},
		Services: []wrangler.Service{
			{Binding: "WORKER_B", Service: "worker_b"},
			{
				Binding:    "AUTH",
				Service:    "auth-worker",
				Entrypoint: "AuthEntrypoint",
				Address:    "http://127.0.0.1:8788",
				Props:      map[string]any{"tenant": "acme", "roles": []any{"admin"}},
			},
			{Binding: "BILLING", Service: "billing", Props: map[string]any{"plan": "pro", "seats": int64(10)}},
		},
		D1Databases: []wrangler.D1Database{
			{
				Binding:         "DB",
				DatabaseName:    "prod-db",
				DatabaseID:      "8c1a8a3e-8a4f-4e8d-9a3e-6b1f2a3c4d5e",
				MigrationsDir:   "migrations",
				MigrationsTable: "d1_migrations",
			},
			{
				Binding:         "ANALYTICS",
				DatabaseName:    "analytics",
				DatabaseID:      "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b",
				MigrationsDir:   "db/migrations",
				MigrationsTable: "schema_migrations",
			},
		},
	}
}

func TestLoadGolden(t *testing.T) {
	for _, name := range []string{"full.toml", "full_inline.toml", "full.json", "full.jsonc"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			got, err := wrangler.Load(path)
			require.NoError(t, err)
			assert.Equal(t, full(path), got)
		})
	}
}

func TestParseMatchesLoad(t *testing.T) {
	path := filepath.Join("testdata", "full.jsonc")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	orig := string(data)

	got, err := wrangler.Parse(path, data)
	require.NoError(t, err)
	assert.Equal(t, full(path), got)
	assert.Equal(t, orig, string(data), "Parse must not modify its input")
}

// The same small config, spelled in each format, must load identically.
func TestFormatsAgree(t *testing.T) {
	tests := []struct {
		name       string
		toml, json string
		want       wrangler.File
	}{
		{
			name: "props as table and inline table",
			toml: `
name = "a"
[[services]]
binding = "T"
service = "t"
[services.props]
n = 1
[[services]]
binding = "I"
service = "i"
props = { n = 1 }
`,
			json: `{"name": "a", "services": [
				{"binding": "T", "service": "t", "props": {"n": 1}},
				{"binding": "I", "service": "i", "props": {"n": 1}},
			]}`,
			want: wrangler.File{Name: "a", Services: []wrangler.Service{
				{Binding: "T", Service: "t", Props: map[string]any{"n": int64(1)}},
				{Binding: "I", Service: "i", Props: map[string]any{"n": int64(1)}},
			}},
		},
		{
			name: "empty props",
			toml: "name = \"a\"\nservices = [{ binding = \"B\", service = \"b\", props = {} }]\n",
			json: `{"name": "a", "services": [{"binding": "B", "service": "b", "props": {}}]}`,
			want: wrangler.File{Name: "a", Services: []wrangler.Service{
				{Binding: "B", Service: "b", Props: map[string]any{}},
			}},
		},
		{
			name: "vars JSON values",
			toml: `
name = "a"
[vars]
LIMITS = { max = 3 }
FLOAT = 3.0
EXP = 1e3
NEG = -7
BIG = 9223372036854775807
LIST = [[1, 2], { k = "v" }]
`,
			json: `{"name": "a", "vars": {
				"LIMITS": {"max": 3},
				"FLOAT": 3.0,
				"EXP": 1e3,
				"NEG": -7,
				"BIG": 9223372036854775807,
				"LIST": [[1, 2], {"k": "v"}],
			}}`,
			want: wrangler.File{Name: "a", Vars: map[string]any{
				"LIMITS": map[string]any{"max": int64(3)},
				"FLOAT":  3.0,
				"EXP":    1000.0,
				"NEG":    int64(-7),
				"BIG":    int64(9223372036854775807),
				"LIST":   []any{[]any{int64(1), int64(2)}, map[string]any{"k": "v"}},
			}},
		},
		{
			name: "TOML dates become RFC 3339 strings",
			toml: `
name = "a"
[vars]
DATE = 2024-01-02
TIME = 07:32:00.5
LOCAL = 1979-05-27T07:32:00
ZONED = 1979-05-27T07:32:00-07:00
`,
			json: `{"name": "a", "vars": {
				"DATE": "2024-01-02",
				"TIME": "07:32:00.5",
				"LOCAL": "1979-05-27T07:32:00",
				"ZONED": "1979-05-27T07:32:00-07:00",
			}}`,
			want: wrangler.File{Name: "a", Vars: map[string]any{
				"DATE":  "2024-01-02",
				"TIME":  "07:32:00.5",
				"LOCAL": "1979-05-27T07:32:00",
				"ZONED": "1979-05-27T07:32:00-07:00",
			}},
		},
		{
			name: "empty arrays and tables",
			toml: "name = \"a\"\ncompatibility_flags = []\nservices = []\nd1_databases = []\n[vars]\n",
			json: `{"name": "a", "compatibility_flags": [], "services": [], "d1_databases": [], "vars": {}}`,
			want: wrangler.File{
				Name:               "a",
				CompatibilityFlags: []string{},
				Vars:               map[string]any{},
				Services:           []wrangler.Service{},
				D1Databases:        []wrangler.D1Database{},
			},
		},
		{
			name: "d1 defaults",
			toml: "name = \"a\"\n[[d1_databases]]\nbinding = \"DB\"\nmigrations_table = \"\"\n",
			json: `{"name": "a", "d1_databases": [{"binding": "DB", "migrations_table": ""}]}`,
			want: wrangler.File{Name: "a", D1Databases: []wrangler.D1Database{
				{Binding: "DB", MigrationsDir: "migrations", MigrationsTable: "d1_migrations"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for path, src := range map[string]string{
				"wrangler.toml":  tt.toml,
				"wrangler.json":  tt.json,
				"wrangler.jsonc": tt.json,
			} {
				got, err := wrangler.Parse(path, []byte(src))
				require.NoError(t, err, path)
				want := tt.want
				want.Path = path
				assert.Equal(t, &want, got, path)
			}
		})
	}
}

func TestJSONNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`1.5e2`, 150.0},
		{`12345678901234567890`, 12345678901234567890.0}, // beyond int64, kept as JavaScript would
		{`1E-400`, 0.0},
		{`null`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := wrangler.Parse("w.json", []byte(`{"name": "a", "vars": {"X": `+tt.in+`}}`))
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.Vars["X"])
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		src  string
		key  string // want Error.Key
		line int    // want Error.Line; 0 for no position
		msg  string // want substring of Error.Msg
	}{
		// Syntax errors carry the position.
		{"toml syntax", "wrangler.toml", "name = \"a\"\nmain = \n", "", 2, "start of value"},
		{"toml duplicate key", "wrangler.toml", "name = \"a\"\nname = \"b\"\n", "name", 2, "already defined"},
		{"toml unterminated string", "wrangler.toml", "name = \"a\nmain = 1\n", "", 1, "new lines"},
		{"toml table redefined", "wrangler.toml", "name = \"a\"\n[[services]]\nbinding = \"A\"\n[services]\n", "services", 4, "array of tables"},
		{"toml invalid UTF-8", "wrangler.toml", "name = \"\xff\"\n", "", 1, "UTF-8"},
		{"json syntax", "wrangler.json", "{\n  \"name\": \"a\",,\n}", "", 2, "invalid character"},
		{"json unterminated", "wrangler.json", "{\n  \"name\": \"a\"\n", "", 3, "unexpected EOF"},
		{"json trailing data", "wrangler.jsonc", "{\"name\": \"a\"}\n}", "", 2, "after top-level value"},
		{"json empty", "wrangler.jsonc", "", "", 1, "unexpected EOF"},
		{"json unterminated comment", "wrangler.jsonc", "{\"name\": \"a\"} /* x", "", 1, ""},
		{"utf-16", "wrangler.json", "\xff\xfe{\x00}\x00", "", 1, "UTF-16"},

		// Everything else names the key and, as in JSON, where its value is
		// (or that of the nearest enclosing table when the key is missing).
		{"missing name", "wrangler.toml", "main = \"x\"\n", "name", 1, "missing"},
		{"empty name", "wrangler.toml", "name = \"\"\n", "name", 1, "must not be empty"},
		{"name not a string", "wrangler.toml", "name = 3\n", "name", 1, "expected string, got integer 3"},
		{"invalid name", "wrangler.toml", "name = \"My.Worker\"\n", "name", 1, "not a valid worker name"},
		{"main not a string", "wrangler.toml", "name = \"a\"\nmain = true\n", "main", 2, "expected string, got boolean true"},
		{"unquoted date", "wrangler.toml", "name = \"a\"\ncompatibility_date = 2024-01-01\n", "compatibility_date", 2, "quote it"},
		{"bad date", "wrangler.toml", "name = \"a\"\ncompatibility_date = \"2024-1-1\"\n", "compatibility_date", 2, "YYYY-MM-DD"},
		{"flags not an array", "wrangler.toml", "name = \"a\"\ncompatibility_flags = \"x\"\n", "compatibility_flags", 2, "expected array of strings"},
		{"flag not a string", "wrangler.toml", "name = \"a\"\ncompatibility_flags = [\"a\", 1]\n", "compatibility_flags[1]", 2, "expected string, got integer 1"},
		{"vars array", "wrangler.toml", "name = \"a\"\nvars = []\n", "vars", 2, "expected table, got array"},
		{"vars empty name", "wrangler.toml", "name = \"a\"\n[vars]\n\"\" = 1\n", `vars.""`, 3, "must not be empty"},
		{"vars nan", "wrangler.toml", "name = \"a\"\n[vars]\nX = [1, nan]\n", "vars.X[1]", 3, "NaN cannot be represented"},
		{"vars inf", "wrangler.toml", "name = \"a\"\n[vars]\n\"a.b\" = { c = -inf }\n", `vars."a.b".c`, 3, "-Inf cannot be represented"},
		{"services string", "wrangler.toml", "name = \"a\"\nservices = \"x\"\n", "services", 2, `expected array of tables, got string "x"`},
		{"services single table", "wrangler.toml", "name = \"a\"\n[services]\nbinding = \"B\"\n", "services", 2, "write [[services]], not [services]"},
		{"service not a table", "wrangler.toml", "name = \"a\"\nservices = [\"x\"]\n", "services[0]", 2, "expected table"},
		{"service without binding", "wrangler.toml", "name = \"a\"\n[[services]]\nbinding = \"A\"\nservice = \"a\"\n[[services]]\nservice = \"b\"\n", "services[1].binding", 5, "missing"},
		{"service without service", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"A\" }]\n", "services[0].service", 2, "missing"},
		{"service empty binding", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"\", service = \"a\" }]\n", "services[0].binding", 2, "must not be empty"},
		{"entrypoint not a string", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"A\", service = \"a\", entrypoint = 1 }]\n", "services[0].entrypoint", 2, "expected string"},
		{"props not a table", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"A\", service = \"a\", props = 5 }]\n", "services[0].props", 2, "expected table, got integer 5"},
		{"address not a URL", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"A\", service = \"a\", address = \"localhost:8787\" }]\n", "services[0].address", 2, "not an http or https URL"},
		{"d1 not an array", "wrangler.toml", "name = \"a\"\nd1_databases = 1\n", "d1_databases", 2, "expected array of tables"},
		{"d1 without binding", "wrangler.toml", "name = \"a\"\n[[d1_databases]]\ndatabase_name = \"x\"\n", "d1_databases[0].binding", 2, "missing"},
		{"d1 id not a string", "wrangler.toml", "name = \"a\"\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_id = 1\n", "d1_databases[0].database_id", 4, "expected string"},
		{"duplicate var and service", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"X\", service = \"x\" }]\n[vars]\nX = \"1\"\n", "services[0].binding", 2, `binding name "X" is already used by vars.X`},
		{"duplicate services", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"X\", service = \"x\" }, { binding = \"X\", service = \"y\" }]\n", "services[1].binding", 2, "already used by services[0].binding"},
		{"duplicate service and d1", "wrangler.toml", "name = \"a\"\nservices = [{ binding = \"DB\", service = \"x\" }]\n[[d1_databases]]\nbinding = \"DB\"\n", "d1_databases[0].binding", 4, "already used by services[0].binding"},

		// JSON errors about keys also carry the position of the key's value,
		// or of the nearest enclosing value when the key is missing.
		{"json root not an object", "wrangler.json", "[]", "", 1, "expected object, got array"},
		{"json name not a string", "wrangler.json", "{\n  \"name\": 3\n}", "name", 2, "expected string, got number 3"},
		{"json missing name", "wrangler.json", "{\n  \"main\": \"x\"\n}", "name", 1, "missing"},
		{"json main null", "wrangler.json", "{\"name\": \"a\", \"main\": null}", "main", 1, "expected string, got null"},
		{"json services string", "wrangler.jsonc", "{\"name\": \"a\",\n\"services\": \"x\"}", "services", 2, "expected array of objects"},
		{"json service without binding", "wrangler.jsonc", "{\"name\": \"a\", \"services\": [\n{\"binding\": \"A\", \"service\": \"a\"},\n{\"service\": \"b\"},\n]}", "services[1].binding", 3, "missing"},
		{"json props not an object", "wrangler.json", "{\"name\": \"a\", \"services\": [{\"binding\": \"A\", \"service\": \"a\",\n\"props\": 5}]}", "services[0].props", 2, "expected object, got number 5"},
		{"json vars array", "wrangler.json", "{\"name\": \"a\", \"vars\": []}", "vars", 1, "expected object, got array"},
		{"json number out of range", "wrangler.json", "{\"name\": \"a\", \"vars\": {\"X\": 1e400}}", "vars.X", 1, "out of range"},
		{"json duplicate binding", "wrangler.json", "{\"name\": \"a\", \"vars\": {\"DB\": 1},\n\"d1_databases\": [{\"binding\": \"DB\"}]}", "d1_databases[0].binding", 2, "already used by vars.DB"},
		{"json d1 without binding", "wrangler.json", "{\"name\": \"a\", \"d1_databases\": [{}]}", "d1_databases[0].binding", 1, "missing"},

		// Keys repeated in a JSON object are errors, as in TOML: JSON
		// parsers keep the last, so the first would be lost silently.
		{"json duplicate key", "wrangler.jsonc", "{\n  \"name\": \"a\",\n  \"main\": \"a.js\",\n  \"main\": \"b.js\",\n}", "main", 4, "already defined on line 3"},
		{"json duplicate nested key", "wrangler.json", "{\"name\": \"a\", \"services\": [{\"binding\": \"A\", \"service\": \"a\",\n\"binding\": \"B\"}]}", "services[0].binding", 2, "already defined on line 1"},

		// An unknown key a small edit away from one that is read is taken
		// for a misspelling: a binding would go missing without it.
		{"misspelt section", "wrangler.toml", "name = \"a\"\n[[service]]\nbinding = \"B\"\nservice = \"b\"\n", "service", 2, `unknown key; did you mean "services"?`},
		{"misspelt table", "wrangler.toml", "name = \"a\"\n[Vars]\nX = \"1\"\n", "Vars", 2, `did you mean "vars"?`},
		{"misspelt d1", "wrangler.toml", "name = \"a\"\n[[d1_database]]\nbinding = \"DB\"\n", "d1_database", 2, `did you mean "d1_databases"?`},
		{"misspelt key", "wrangler.toml", "nmae = \"a\"\nname = \"a\"\n", "nmae", 1, `did you mean "name"?`},
		{"misspelt dash", "wrangler.toml", "name = \"a\"\ncompatibility-date = \"2024-01-01\"\n", "compatibility-date", 2, `did you mean "compatibility_date"?`},
		{"misspelt entrypoint", "wrangler.toml", "name = \"a\"\n[[services]]\nbinding = \"B\"\nservice = \"b\"\nentrypont = \"Admin\"\n", "services[0].entrypont", 5, `did you mean "entrypoint"?`},
		{"misspelt d1 key", "wrangler.toml", "name = \"a\"\n[[d1_databases]]\nbinding = \"DB\"\nmigration_dir = \"m\"\n", "d1_databases[0].migration_dir", 4, `did you mean "migrations_dir"?`},
		{"json misspelt section", "wrangler.jsonc", "{\n  \"name\": \"a\",\n  \"service\": [{\"binding\": \"B\", \"service\": \"b\"}],\n}", "service", 3, `did you mean "services"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := wrangler.Parse(tt.path, []byte(tt.src))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, wrangler.ErrInvalid)

			e, ok := errors.AsType[*wrangler.Error](err)
			require.True(t, ok, "error %v is %T, want *wrangler.Error", err, err)
			assert.Equal(t, tt.path, e.File)
			assert.Equal(t, tt.key, e.Key)
			assert.Equal(t, tt.line, e.Line, "line")
			if tt.line > 0 {
				assert.Positive(t, e.Column, "column")
			}
			assert.Contains(t, e.Msg, tt.msg)

			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, tt.path+":"), "%q does not start with the file", msg)
			assert.Contains(t, msg, tt.key)
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  wrangler.Error
		want string
	}{
		{wrangler.Error{File: "w.toml", Key: "services[1].binding", Msg: "missing"}, "w.toml: services[1].binding: missing"},
		{wrangler.Error{File: "w.toml", Line: 3, Column: 7, Msg: "bad"}, "w.toml:3:7: bad"},
		{wrangler.Error{File: "w.json", Key: "name", Line: 2, Column: 11, Msg: "bad"}, "w.json:2:11: name: bad"},
		{wrangler.Error{File: "w.json", Line: 2, Msg: "bad"}, "w.json:2: bad"},
		{wrangler.Error{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
}

func TestPositions(t *testing.T) {
	src := "{\n  \"name\": \"a\",\n  \"services\": [\n    {\"binding\": \"B\", \"service\": 7}\n  ]\n}\n"
	_, err := wrangler.Parse("w.json", []byte(src))
	require.Error(t, err)
	assert.EqualError(t, err, "w.json:4:33: services[0].service: expected string, got number 7")

	_, err = wrangler.Parse("w.toml", []byte("name = \"a\"\n  c == 3\n"))
	require.Error(t, err)
	e, ok := errors.AsType[*wrangler.Error](err)
	require.True(t, ok)
	assert.Equal(t, 2, e.Line)
	assert.Equal(t, 6, e.Column)

	// A byte order mark is invisible, so it does not count as a column.
	_, err = wrangler.Parse("w.json", []byte("\xef\xbb\xbf{\"name\": 1}"))
	assert.EqualError(t, err, "w.json:1:10: name: expected string, got number 1")
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{
			path: filepath.Join("testdata", "unknown.toml"),
			want: []string{
				"testdata/unknown.toml:2:1: workers_dev: unsupported key; ignored",
				"testdata/unknown.toml:3:1: kv_namespaces: unsupported key; ignored",
				"testdata/unknown.toml:4:1: routes: unsupported key; ignored",
				"testdata/unknown.toml:9:1: services[0].environment: unsupported key; ignored",
				"testdata/unknown.toml:13:1: d1_databases[0].preview_database_id: unsupported key; ignored",
				"testdata/unknown.toml:15:2: env: unsupported key; ignored",
			},
		},
		{
			path: filepath.Join("testdata", "unknown.jsonc"),
			want: []string{
				"testdata/unknown.jsonc:3:3: workers_dev: unsupported key; ignored",
				"testdata/unknown.jsonc:4:3: kv_namespaces: unsupported key; ignored",
				"testdata/unknown.jsonc:5:3: routes: unsupported key; ignored",
				"testdata/unknown.jsonc:6:50: services[0].environment: unsupported key; ignored",
				"testdata/unknown.jsonc:7:39: d1_databases[0].preview_database_id: unsupported key; ignored",
				"testdata/unknown.jsonc:8:3: env: unsupported key; ignored",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, err := wrangler.Load(tt.path)
			require.NoError(t, err)
			assert.Equal(t, "worker-a", f.Name)
			assert.Equal(t, []wrangler.Service{{Binding: "B", Service: "b"}}, f.Services)
			assert.Equal(t, tt.want, f.Warnings)
		})
	}

	f, err := wrangler.Load(filepath.Join("testdata", "full.jsonc"))
	require.NoError(t, err)
	assert.Empty(t, f.Warnings, "$schema is expected in JSON configs")
}

func TestLoadErrors(t *testing.T) {
	_, err := wrangler.Load(filepath.Join("testdata", "missing.toml"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	for _, path := range []string{"wrangler.yaml", "wrangler", ""} {
		_, err = wrangler.Load(path)
		require.Error(t, err, path)
		e, ok := errors.AsType[*wrangler.Error](err)
		require.True(t, ok)
		assert.Equal(t, path, e.File)
		assert.Contains(t, err.Error(), "unsupported file type")
		assert.ErrorIs(t, err, wrangler.ErrInvalid)

		_, err = wrangler.Parse(path, []byte(`name = "a"`))
		assert.ErrorIs(t, err, wrangler.ErrInvalid)
	}

	// Extensions are matched without regard to case.
	f, err := wrangler.Parse("WRANGLER.TOML", []byte(`name = "a"`))
	require.NoError(t, err)
	assert.Equal(t, "a", f.Name)
}

// Vars and props go to workers as JSON, so whatever loads must encode.
func TestVarsEncode(t *testing.T) {
	f, err := wrangler.Load(filepath.Join("testdata", "full.toml"))
	require.NoError(t, err)
	_, err = json.Marshal(f.Vars)
	require.NoError(t, err)
}

// Nesting is bounded before any parser recurses, so deep input is an
// error rather than a stack overflow.
func TestDeepNesting(t *testing.T) {
	const n, maxDepth = 1 << 20, 10000
	tests := []struct {
		path, src, key, msg string
	}{
		{"w.json", strings.Repeat("[", n), "", "nested more than 10000 deep"},
		{"w.jsonc", `{"name": "a", "vars": {"X": ` + strings.Repeat(`{"a": `, n), "", "nested more than 10000 deep"},
		{"w.toml", "name = \"a\"\nvars.X = " + strings.Repeat("[", n), "", "nested more than"},
		{"w.toml", "name = \"a\"\nvars." + strings.Repeat("a.", 20000) + "b = 1\n", "vars" + strings.Repeat(".a", maxDepth), "nested more than 10000 deep"},
	}
	for _, tt := range tests {
		_, err := wrangler.Parse(tt.path, []byte(tt.src))
		require.Error(t, err, tt.path)
		e, ok := errors.AsType[*wrangler.Error](err)
		require.True(t, ok)
		assert.True(t, e.Key == tt.key, "key of %d bytes, want %d", len(e.Key), len(tt.key))
		assert.Contains(t, e.Msg, tt.msg)
	}

	// Brackets in strings and comments do not count.
	deep := strings.Repeat("[{", 20000)
	src := "// " + deep + "\n{\"name\": \"a\", /* " + deep + " */ \"vars\": {\"X\": \"" + deep + "\\\"\"}}"
	f, err := wrangler.Parse("w.jsonc", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, deep+`"`, f.Vars["X"])
}

// A file larger than MaxFileSize is refused, naming the file, before it is
// parsed (by Parse) or read whole (by Load).
func TestFileSize(t *testing.T) {
	big := make([]byte, wrangler.MaxFileSize+1)
	copy(big, "name = \"a\"\n#")
	for i := len("name = \"a\"\n#"); i < len(big); i++ {
		big[i] = 'x'
	}
	path := filepath.Join(t.TempDir(), "wrangler.toml")
	require.NoError(t, os.WriteFile(path, big, 0o644))

	for name, load := range map[string]func() (*wrangler.File, error){
		"Parse": func() (*wrangler.File, error) { return wrangler.Parse(path, big) },
		"Load":  func() (*wrangler.File, error) { return wrangler.Load(path) },
	} {
		f, err := load()
		require.Error(t, err, name)
		assert.Nil(t, f)
		assert.ErrorIs(t, err, wrangler.ErrInvalid, name)
		assert.EqualError(t, err, path+": file is larger than 8 MiB, the most a configuration file may be", name)
	}

	// At the bound it loads.
	require.NoError(t, os.WriteFile(path, big[:wrangler.MaxFileSize], 0o644))
	f, err := wrangler.Load(path)
	require.NoError(t, err)
	assert.Equal(t, "a", f.Name)
}
