package workers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Journal appends numbered entries to its storage.
type Journal struct{ workers.DurableObject }

func (j *Journal) Write(ctx context.Context, i int) error {
	return j.State.Storage().Put(ctx, fmt.Sprintf("entry:%08d", i), i)
}

func (j *Journal) WriteTx(ctx context.Context, i int) error {
	s := j.State.Storage()
	return s.Transaction(ctx, func(tx *workers.Storage) error {
		if err := tx.Put(ctx, fmt.Sprintf("entry:%08d", i), i); err != nil {
			return err
		}
		_, err := tx.SQL().ExecContext(ctx, `INSERT INTO log (i) VALUES (?)`, i)
		return err
	})
}

func (j *Journal) Init(ctx context.Context) error {
	_, err := j.State.Storage().SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS log (i INTEGER)`)
	return err
}

func (j *Journal) Entries(ctx context.Context) ([]int, error) {
	es, err := j.State.Storage().List(ctx, workers.ListOptions{Prefix: "entry:"})
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.Value.(int)
	}
	return out, err
}

func (j *Journal) Logged(ctx context.Context) (int, error) {
	var n int
	err := j.State.Storage().SQL().QueryRowContext(ctx, `SELECT count(*) FROM log`).Scan(&n)
	return n, err
}

const crashChildEnv = "WORKERS_DURABLE_CRASH_CHILD"

func journals(t testing.TB, dir string) *workers.DurableObjectNamespace {
	reg := doRegistryAt(t, dir)
	register(t, reg, "j", workers.Worker{DurableObjects: map[string]workers.Constructor{"Journal": workers.New[Journal]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "j", ClassName: "Journal"})
}

// TestDurableObjectCrashChild is the process TestDurableObjectWritesSurviveSIGKILL
// kills: it writes until killed, printing each write once it is
// acknowledged.
func TestDurableObjectCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestDurableObjectWritesSurviveSIGKILL")
	}
	ns := journals(t, dir)
	ctx := context.Background()
	plain, tx := ns.GetByName("plain"), ns.GetByName("tx")
	require.NoError(t, errOnly(tx.Call(ctx, "Init")))
	out := bufio.NewWriter(os.Stdout)
	for i := 1; ; i++ {
		require.NoError(t, errOnly(plain.Call(ctx, "Write", i)))
		require.NoError(t, errOnly(tx.Call(ctx, "WriteTx", i)))
		fmt.Fprintf(out, "ACK %d\n", i)
		out.Flush()
	}
}

// Writes acknowledged before the process is SIGKILLed are all there when
// the state is opened again.
func TestDurableObjectWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableObjectCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := bufio.NewScanner(stdout)
	acked := 0
	deadline := time.Now().Add(time.Minute)
	for acked < 200 && time.Now().Before(deadline) && lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "ACK "); ok {
			acked, err = strconv.Atoi(n)
			require.NoError(t, err)
		}
	}
	require.GreaterOrEqual(t, acked, 200, "the child did not write")
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no chance to flush or close
	_ = cmd.Wait()

	ns := journals(t, dir)
	ctx := context.Background()
	for _, name := range []string{"plain", "tx"} {
		got, err := workers.Call[[]int](ctx, ns.GetByName(name), "Entries")
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(got), acked, "%s: acknowledged writes lost", name)
		for i := range acked {
			assert.Equal(t, i+1, got[i])
		}
	}
	logged, err := workers.Call[int](ctx, ns.GetByName("tx"), "Logged")
	require.NoError(t, err)
	entries, err := workers.Call[[]int](ctx, ns.GetByName("tx"), "Entries")
	require.NoError(t, err)
	assert.Equal(t, len(entries), logged, "a transaction's key-value and SQL writes are all or nothing")
}
