package workers_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// FuzzLoadConfig feeds LoadConfig, and RegisterConfig after it, arbitrary
// files of each format: a bad file must be an error naming the file, never a
// panic. Seeds: testdata/fuzz/FuzzLoadConfig.
func FuzzLoadConfig(f *testing.F) {
	exts := []string{".toml", ".json", ".jsonc"}
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "wrangler"+exts[int(format)%len(exts)])
		require.NoError(t, os.WriteFile(path, data, 0o644))
		cfg, err := workers.LoadConfig(path)
		if err != nil {
			assert.ErrorIs(t, err, workers.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "wrangler")
			return
		}
		require.NotEmpty(t, cfg.Name)
		// D1 files are covered elsewhere; opening SQLite here would make
		// each run (and the fuzzer's minimizing) a hundred times slower.
		cfg.D1Databases = nil
		reg := workers.NewRegistry(workers.WithStateDir(filepath.Join(dir, "state")), workers.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		defer reg.Close(t.Context())
		if err := reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[cfgProbe]()}); err != nil {
			assert.NotEmpty(t, err.Error())
		}
	})
}
