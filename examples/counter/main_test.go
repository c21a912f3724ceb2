package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The story runs twice on one state directory: the second run finds the
// counts and messages where the first left them.
func TestStoryTwice(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile("wrangler.toml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wrangler.toml"), cfg, 0o644))

	var first, second bytes.Buffer
	require.NoError(t, story(&first, dir))
	require.NoError(t, story(&second, dir))
	assert.Contains(t, first.String(), "GET /increment?name=alice -> 3\n")
	assert.Contains(t, first.String(), "GET /increment?name=bob -> 1\n")
	assert.Contains(t, second.String(), "GET /increment?name=alice -> 6\n")
	assert.Contains(t, second.String(), "GET /increment?name=bob -> 2\n")
	assert.Contains(t, first.String(), "mallory posts without joining: mallory: not in the room (errors.Is ErrNotMember: true)")
	// Members were in memory, gone with the first run's process; messages
	// were stored.
	assert.Contains(t, second.String(), "ada joins: in the room [ada]\n")
	assert.Contains(t, second.String(), "  #2 grace: hi ada\n  #3 ada: hello\n  #4 grace: hi ada\n")
	matches, err := filepath.Glob(filepath.Join(dir, ".wrangler", "state", "do", "counter-Counter", "*.sqlite"))
	require.NoError(t, err)
	assert.Len(t, matches, 2, "one file per object: alice and bob")
}
