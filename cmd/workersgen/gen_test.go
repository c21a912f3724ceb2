package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The committed generated files must be what workersgen writes today: a
// change to a worker type or to the generator without go generate fails here.
func TestCommittedFilesUpToDate(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*/workers_gen.go")
	require.NoError(t, err)
	nested, err := filepath.Glob("../../examples/*/*/workers_gen.go")
	require.NoError(t, err)
	dirs = append(dirs, nested...)
	dirs = append(dirs, "../../internal/gentest/workers_gen.go", "../../bench/workers_gen.go")
	for _, file := range dirs {
		t.Run(file, func(t *testing.T) {
			want, err := os.ReadFile(file)
			require.NoError(t, err)
			got, err := Generate(filepath.Dir(file), "workers_gen.go")
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), "%s is stale: run go generate in %s", file, filepath.Dir(file))
		})
	}
}

func TestNoWorkerTypes(t *testing.T) {
	got, err := Generate("../../internal/shim", "workers_gen.go")
	require.NoError(t, err)
	assert.Nil(t, got)
}

func TestBrokenPackage(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package broken\n\nvar x int = \"s\"\n"), 0o644))
	_, err := Generate(dir, "workers_gen.go")
	assert.ErrorContains(t, err, "does not type-check")
}
