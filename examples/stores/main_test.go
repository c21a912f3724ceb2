package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// runMainEnv makes the test binary run main instead of the tests: the
// split test runs the program so, and the program starts itself again (the
// same binary, with -serve-db) as db-service's process.
const runMainEnv = "STORES_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// copyExample copies the wrangler files and migrations (not the state of
// earlier runs) into a temporary directory.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".wrangler" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, path), 0o755)
		}
		if ext := filepath.Ext(path); ext != ".toml" && ext != ".sql" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, path), data, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func TestStory(t *testing.T) {
	dir := copyExample(t)
	var out bytes.Buffer
	require.NoError(t, story(t.Context(), &out, dir, false))
	text := out.String()
	assert.Contains(t, text, "db-service       GET /")
	assert.Contains(t, text, "-> 200 [ ] 1 Write the analytical engine notes | [ ] 2 Answer Babbage")
	assert.Contains(t, text, `-> 404 user not found: "nobody"`)
	assert.Contains(t, text, "-> 200 users 1, tasks 2, completed 0")
	assert.Contains(t, text, "gives the caller a workers.Stub(RpcTarget (*dbservice.AuthedStore))")
	assert.Contains(t, text, "asking for the *dbservice.AuthedStore itself is refused: true")

	// A second run finds the first run's data on disk.
	out.Reset()
	require.NoError(t, story(t.Context(), &out, dir, false))
	assert.Contains(t, out.String(), "-> 200 users 1, tasks 4, completed 0")
	assert.FileExists(t, filepath.Join(dir, "db-service", ".wrangler", "state", "d1", "todo-app.sqlite"))
}
