package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// ConfiguredFront calls calc through the binding CALC that its wrangler file declares
// with an address.
type ConfiguredFront struct{ workers.Entrypoint }

func (w *ConfiguredFront) Sum(ctx context.Context, a, b int) (int, error) {
	return workers.Call[int](ctx, w.Env.Service("CALC"), "Add", a, b)
}

func (w *ConfiguredFront) Props(ctx context.Context) (map[string]any, error) {
	return workers.Call[map[string]any](ctx, w.Env.Service("CALC"), "Props")
}

// A service entry with an address reaches the worker served there, through
// the dialer the registry was made with, props and all.
func TestConfigAddress(t *testing.T) {
	base := serve(t, serverRegistry(t), remote.AllowToken("s3cret", remote.Allow{Service: "calc"}))
	dir := t.TempDir()
	file := filepath.Join(dir, "wrangler.toml")
	require.NoError(t, os.WriteFile(file, []byte(`name = "front"

[[services]]
binding = "CALC"
service = "calc"
address = "`+base+`"
props = { caller = "front" }
`), 0o644))
	cfg, err := workers.LoadConfig(file)
	require.NoError(t, err)

	reg := newRegistry(t, workers.WithDialer(remote.Dialer(remote.WithBearerToken("s3cret"))))
	require.NoError(t, reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[ConfiguredFront]()}))
	require.NoError(t, reg.Validate())

	front := reg.Bind(workers.Service{Service: "front"})
	got, err := workers.Call[int](t.Context(), front, "Sum", 20, 22)
	require.NoError(t, err)
	assert.Equal(t, 42, got)

	props, err := workers.Call[map[string]any](t.Context(), front, "Props")
	require.NoError(t, err)
	assert.Equal(t, "front", props["caller"])

	// The same registry without the token's permission: refused remotely.
	denied := newRegistry(t, workers.WithDialer(remote.Dialer(remote.WithBearerToken("wrong"))))
	require.NoError(t, denied.RegisterConfig(cfg, workers.Worker{Default: workers.New[ConfiguredFront]()}))
	_, err = workers.Call[int](t.Context(), denied.Bind(workers.Service{Service: "front"}), "Sum", 1, 2)
	assert.ErrorIs(t, err, remote.ErrUnauthenticated)
}
