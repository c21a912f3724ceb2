package wrangler_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
)

func TestTriggers(t *testing.T) {
	for path, src := range map[string]string{
		"w.toml":  "name = \"a\"\n[triggers]\ncrons = [\"*/5 * * * *\", \"0 15 1 * *\", \"59 23 LW * *\", \"10 7 * * mon-fri\"]\n",
		"w.jsonc": "{\"name\": \"a\", \"triggers\": {\"crons\": [\"*/5 * * * *\", \"0 15 1 * *\",\n \"59 23 LW * *\", \"10 7 * * mon-fri\"]}}",
	} {
		f, err := wrangler.Parse(path, []byte(src))
		require.NoError(t, err, path)
		assert.Equal(t, []string{"*/5 * * * *", "0 15 1 * *", "10 7 * * mon-fri"}, f.Crons, path)
		// Cloudflare's L, W and # load, with a warning that they do not run.
		require.Len(t, f.Warnings, 1, path)
		assert.Contains(t, f.Warnings[0], `triggers.crons[2]: "59 23 LW * *" uses L, W or #`)
		assert.Contains(t, f.Warnings[0], "it does not run")
	}
}

func TestTriggersErrors(t *testing.T) {
	tests := []struct{ name, src, key, msg string }{
		{"not a table", "triggers = 1", "triggers", "expected table"},
		{"crons not an array", "[triggers]\ncrons = \"* * * * *\"", "triggers.crons", "expected array of strings"},
		{"cron not a string", "[triggers]\ncrons = [1]", "triggers.crons[0]", "expected string"},
		{"too few fields", "[triggers]\ncrons = [\"* * *\"]", "triggers.crons[0]", "has 3 fields, want 5"},
		{"seconds field", "[triggers]\ncrons = [\"0 * * * * *\"]", "triggers.crons[0]", "has 6 fields"},
		{"out of range", "[triggers]\ncrons = [\"61 * * * *\"]", "triggers.crons[0]", "above maximum"},
		{"descriptor", "[triggers]\ncrons = [\"@daily\"]", "triggers.crons[0]", "has 1 fields"},
		{"time zone", "[triggers]\ncrons = [\"TZ=UTC\"]", "triggers.crons[0]", "run in UTC"},
		{"never fires", "[triggers]\ncrons = [\"0 0 30 2 *\"]", "triggers.crons[0]", "never fires"},
		{"misspelt key", "[triggers]\ncron = [\"* * * * *\"]", "triggers.cron", `did you mean "crons"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wrangler.Parse("w.toml", []byte("name = \"a\"\n"+tt.src+"\n"))
			require.Error(t, err)
			e, ok := errors.AsType[*wrangler.Error](err)
			require.True(t, ok)
			assert.Equal(t, tt.key, e.Key)
			assert.Contains(t, e.Msg, tt.msg)
			assert.Positive(t, e.Line)
		})
	}
}

// Schedules run in UTC, whatever the local zone.
func TestParseCronUTC(t *testing.T) {
	s, err := wrangler.ParseCron("30 6 * * *")
	require.NoError(t, err)
	from := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("east", 5*3600))
	assert.Equal(t, time.Date(2025, 3, 2, 6, 30, 0, 0, time.UTC), s.Next(from).UTC())
}
