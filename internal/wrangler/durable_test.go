package wrangler_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
)

func TestDurableObjectsAllFormats(t *testing.T) {
	want := []wrangler.DurableObjectBinding{
		{Name: "COUNTER", ClassName: "Counter"},
		{Name: "ROOMS", ClassName: "ChatRoom", ScriptName: "chat"},
	}
	wantMigrations := []wrangler.Migration{
		{Tag: "v1", NewClasses: []string{"Legacy"}},
		{Tag: "v2", NewSQLiteClasses: []string{"Counter", "ChatRoom"}},
	}
	for _, tc := range []struct{ path, data string }{
		{"wrangler.toml", `
name = "app"
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "ROOMS"
class_name = "ChatRoom"
script_name = "chat"

[[migrations]]
tag = "v1"
new_classes = ["Legacy"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["Counter", "ChatRoom"]
`},
		{"inline.toml", `
name = "app"
durable_objects = { bindings = [ { name = "COUNTER", class_name = "Counter" }, { name = "ROOMS", class_name = "ChatRoom", script_name = "chat" } ] }
migrations = [ { tag = "v1", new_classes = ["Legacy"] }, { tag = "v2", new_sqlite_classes = ["Counter", "ChatRoom"] } ]
`},
		{"wrangler.json", `{
  "name": "app",
  "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}, {"name": "ROOMS", "class_name": "ChatRoom", "script_name": "chat"}]},
  "migrations": [{"tag": "v1", "new_classes": ["Legacy"]}, {"tag": "v2", "new_sqlite_classes": ["Counter", "ChatRoom"]}]
}`},
		{"wrangler.jsonc", `{
  "name": "app",
  // Durable Objects
  "durable_objects": {
    "bindings": [
      {"name": "COUNTER", "class_name": "Counter"},
      {"name": "ROOMS", "class_name": "ChatRoom", "script_name": "chat"}, // another worker's class
    ],
  },
  "migrations": [
    {"tag": "v1", "new_classes": ["Legacy"]},
    {"tag": "v2", "new_sqlite_classes": ["Counter", "ChatRoom"]},
  ],
}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f, err := wrangler.Parse(tc.path, []byte(tc.data))
			require.NoError(t, err)
			assert.Equal(t, want, f.DurableObjects)
			assert.Equal(t, wantMigrations, f.Migrations)
			assert.Empty(t, f.Warnings)
		})
	}
}

func TestDurableObjectsErrors(t *testing.T) {
	for _, tc := range []struct{ name, path, data, want string }{
		{"missing class", "w.toml", "name = \"a\"\n[[durable_objects.bindings]]\nname = \"C\"\n",
			"w.toml:2:19: durable_objects.bindings[0].class_name: missing"},
		{"missing name", "w.json", `{"name": "a", "durable_objects": {"bindings": [{"class_name": "C"}]}}`,
			"durable_objects.bindings[0].name: missing"},
		{"not a table", "w.toml", "name = \"a\"\ndurable_objects = 3\n",
			"durable_objects: expected table, got integer 3"},
		{"bindings not an array", "w.json", `{"name": "a", "durable_objects": {"bindings": {"name": "C"}}}`,
			"durable_objects.bindings: expected array of objects, got object"},
		{"name taken", "w.toml", "name = \"a\"\n[vars]\nC = \"x\"\n[[durable_objects.bindings]]\nname = \"C\"\nclass_name = \"K\"\n",
			`durable_objects.bindings[0].name: binding name "C" is already used by vars.C`},
		{"renamed", "w.toml", "name = \"a\"\n[[migrations]]\ntag = \"v2\"\nrenamed_classes = [{from = \"A\", to = \"B\"}]\n",
			"w.toml:4:1: migrations[0].renamed_classes: renaming a Durable Object class is not supported"},
		{"deleted", "w.jsonc", `{"name": "a", "migrations": [{"tag": "v1", "new_classes": ["A"]}, {"tag": "v2", "deleted_classes": ["A"]}]}`,
			"migrations[1].deleted_classes: deleting a Durable Object class is not supported"},
		{"no tag", "w.toml", "name = \"a\"\n[[migrations]]\nnew_classes = [\"A\"]\n",
			"migrations[0].tag: missing"},
		{"duplicate tag", "w.toml", "name = \"a\"\n[[migrations]]\ntag = \"v1\"\n[[migrations]]\ntag = \"v1\"\n",
			`migrations[1].tag: tag "v1" is already used by migrations[0]`},
		{"class twice", "w.toml", "name = \"a\"\n[[migrations]]\ntag = \"v1\"\nnew_classes = [\"A\"]\n[[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"A\"]\n",
			`migrations[1].new_sqlite_classes[0]: class "A" is already created by migrations[0].new_classes`},
		{"class not a string", "w.json", `{"name": "a", "migrations": [{"tag": "v1", "new_sqlite_classes": [1]}]}`,
			"migrations[0].new_sqlite_classes[0]: expected string, got number 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wrangler.Parse(tc.path, []byte(tc.data))
			require.Error(t, err)
			assert.ErrorIs(t, err, wrangler.ErrInvalid)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDurableObjectsWarnings(t *testing.T) {
	f, err := wrangler.Parse("w.toml", []byte("name = \"a\"\n[durable_objects]\nextra = 1\n[[durable_objects.bindings]]\nname = \"C\"\nclass_name = \"K\"\nenvironment = \"x\"\n"))
	require.NoError(t, err)
	assert.Len(t, f.Warnings, 2)
	assert.Contains(t, f.Warnings[0]+f.Warnings[1], "durable_objects.extra: unsupported key")
	assert.Contains(t, f.Warnings[0]+f.Warnings[1], "durable_objects.bindings[0].environment: unsupported key")
}
