//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSplit runs the program with -split, as `go run ./examples/stores
// -split` does: db-service in a child process, the story unchanged, exit 0,
// and no child left behind.
func TestSplit(t *testing.T) {
	dir := copyExample(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run := func() string {
		cmd := exec.CommandContext(ctx, os.Args[0], "-split", "-dir", dir)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "stderr: %s", stderr.String())
		return string(out)
	}
	text := run()
	m := regexp.MustCompile(`db-service runs in process (\d+), serving at (http://127\.0\.0\.1:\d+); public-service and private-service run here, in process (\d+), and open no database`).FindStringSubmatch(text)
	require.NotNil(t, m, "output:\n%s", text)
	assert.NotEqual(t, m[1], m[3], "db-service runs in a process of its own")
	assert.Contains(t, text, "db-service       GET /                                              -> 200 OK")
	assert.Contains(t, text, "-> 200 [ ] 1 Write the analytical engine notes | [ ] 2 Answer Babbage")
	assert.Contains(t, text, `-> 404 user not found: "nobody"`)
	assert.Contains(t, text, "-> 200 users 1, tasks 2, completed 0")
	assert.Contains(t, text, "gives the caller a workers.Stub(remote RpcTarget #")
	assert.Contains(t, text, "of the handler at "+m[2]+")")
	assert.Contains(t, text, "asking for the *dbservice.AuthedStore itself is refused: true")
	assert.Contains(t, text, "through the stub, ada has 2 tasks")

	// The child is gone: it was waited for before the parent exited.
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "db-service's process %d is still there", pid)

	// The child wrote the database, where the in-process story finds it.
	assert.FileExists(t, filepath.Join(dir, "db-service", ".wrangler", "state", "d1", "todo-app.sqlite"))
	var out bytes.Buffer
	require.NoError(t, story(t.Context(), &out, dir, false))
	assert.Contains(t, out.String(), "-> 200 users 1, tasks 4, completed 0")
	assert.Contains(t, run(), "-> 200 users 1, tasks 6, completed 0")
}
