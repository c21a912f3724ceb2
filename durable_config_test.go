package workers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	return path
}

func TestDurableObjectConfig(t *testing.T) {
	for _, tc := range []struct{ file, body string }{
		{"wrangler.toml", `
name = "front"
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
`},
		{"wrangler.jsonc", `{
  "name": "front",
  "durable_objects": { "bindings": [ { "name": "COUNTER", "class_name": "Counter" } ] }, // as wrangler writes it
  "migrations": [ { "tag": "v1", "new_classes": ["Counter"] } ]
}`},
		{"wrangler.json", `{
  "name": "front",
  "durable_objects": { "bindings": [ { "name": "COUNTER", "class_name": "Counter" } ] },
  "migrations": [ { "tag": "v1", "new_sqlite_classes": ["Counter"] } ]
}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := writeConfig(t, tc.file, tc.body)
			cfg, err := workers.LoadConfig(path)
			require.NoError(t, err)
			assert.Equal(t, []workers.DurableObjectBinding{{Name: "COUNTER", ClassName: "Counter"}}, cfg.DurableObjects)
			require.Len(t, cfg.Migrations, 1)
			assert.Equal(t, "v1", cfg.Migrations[0].Tag)

			reg := newRegistry(t)
			require.NoError(t, reg.RegisterConfig(cfg, workers.Worker{
				Default:        workers.New[Caller](),
				DurableObjects: map[string]workers.Constructor{"Counter": workers.New[CounterObject]()},
			}))
			require.NoError(t, reg.Validate())
			got, err := workers.Call[[]int](context.Background(), bind(reg, "front"), "Bump", "x")
			require.NoError(t, err)
			assert.Equal(t, []int{1, 1}, got)

			// The object's file is beside the config, where wrangler dev keeps state.
			id := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "front", ClassName: "Counter"}).IDFromName("x")
			_, err = os.Stat(filepath.Join(filepath.Dir(path), ".wrangler", "state", "do", "front-Counter", id.String()+".sqlite"))
			assert.NoError(t, err)
		})
	}
}

// script_name, the worker that exports the class, is read in every format.
func TestDurableObjectConfigScriptName(t *testing.T) {
	want := []workers.DurableObjectBinding{{Name: "ROOMS", ClassName: "Room", ScriptName: "chat"}}
	for file, body := range map[string]string{
		"wrangler.toml":  "name = \"front\"\n[[durable_objects.bindings]]\nname = \"ROOMS\"\nclass_name = \"Room\"\nscript_name = \"chat\"\n",
		"wrangler.json":  `{"name": "front", "durable_objects": {"bindings": [{"name": "ROOMS", "class_name": "Room", "script_name": "chat"}]}}`,
		"wrangler.jsonc": "{\n  // another worker's class\n  \"name\": \"front\", \"durable_objects\": {\"bindings\": [{\"name\": \"ROOMS\", \"class_name\": \"Room\", \"script_name\": \"chat\"},]},\n}",
	} {
		cfg, err := workers.LoadConfig(writeConfig(t, file, body))
		require.NoError(t, err, file)
		assert.Equal(t, want, cfg.DurableObjects, file)
	}
}

func TestDurableObjectConfigErrors(t *testing.T) {
	code := workers.Worker{DurableObjects: map[string]workers.Constructor{"Counter": workers.New[CounterObject]()}}
	for _, tc := range []struct{ name, body, want string }{
		{"migration of a class the code lacks", "name = \"a\"\n[[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"Room\"]\n",
			`migrations[0].new_sqlite_classes[0]: class "Room" is not in the code's Worker.DurableObjects (its classes: [Counter])`},
		{"binding to a class the code lacks", "name = \"a\"\n[[durable_objects.bindings]]\nname = \"R\"\nclass_name = \"Room\"\n",
			`durable_objects.bindings[0].class_name: class "Room" is not in the code's Worker.DurableObjects (its classes: [Counter]); set script_name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, "wrangler.toml", tc.body)
			cfg, err := workers.LoadConfig(path)
			require.NoError(t, err)
			err = newRegistry(t).RegisterConfig(cfg, code)
			assert.ErrorIs(t, err, workers.ErrInvalidConfig)
			assert.ErrorContains(t, err, path)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	// LoadConfig refuses what it cannot do, naming the file and key.
	path := writeConfig(t, "wrangler.toml", "name = \"a\"\n[[migrations]]\ntag = \"v2\"\nrenamed_classes = [{from = \"A\", to = \"B\"}]\n")
	_, err := workers.LoadConfig(path)
	assert.ErrorIs(t, err, workers.ErrInvalidConfig)
	assert.ErrorContains(t, err, path+":4:1: migrations[0].renamed_classes: renaming a Durable Object class is not supported")
}
