package workers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-29c11ff2/workers"
)

// writeVarsConfig writes a config with n [vars] in the format of ext and
// returns its path. With unknown set, the n keys are at the top level
// instead, each an unknown key and so a warning.
func writeVarsConfig(b *testing.B, dir, ext string, n int, unknown bool) string {
	b.Helper()
	var s strings.Builder
	if ext == ".toml" {
		s.WriteString("name = \"big\"\n")
		if !unknown {
			s.WriteString("[vars]\n")
		}
		for i := range n {
			fmt.Fprintf(&s, "VAR_%d = \"value %d\"\n", i, i)
		}
	} else {
		s.WriteString("{\"name\": \"big\",")
		if !unknown {
			s.WriteString("\"vars\": {")
		}
		for i := range n {
			if i > 0 {
				s.WriteString(",")
			}
			fmt.Fprintf(&s, "\n  \"VAR_%d\": \"value %d\"", i, i)
		}
		if !unknown {
			s.WriteString("}")
		}
		s.WriteString("\n}\n")
	}
	path := filepath.Join(dir, fmt.Sprintf("wrangler-%d%s", n, ext))
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchmarkLoadConfig loads a config of 10,000 and one of 100,000 vars in
// each iteration and reports how much longer the large one takes: about 10
// when loading is linear in the number of keys, about 100 if it were
// quadratic, as TOML loading was with toml.Unmarshal.
func benchmarkLoadConfig(b *testing.B, ext string, unknown bool) {
	dir := b.TempDir()
	small := writeVarsConfig(b, dir, ext, 10_000, unknown)
	large := writeVarsConfig(b, dir, ext, 100_000, unknown)
	var tSmall, tLarge time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := workers.LoadConfig(small); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := workers.LoadConfig(large); err != nil {
			b.Fatal(err)
		}
		tSmall += t1.Sub(t0)
		tLarge += time.Since(t1)
	}
	b.ReportMetric(float64(tLarge)/float64(tSmall), "100k/10k")
	b.ReportMetric(float64(tLarge.Nanoseconds())/float64(b.N)/100_000, "ns/key")
}

func BenchmarkLoadConfigTOML(b *testing.B) { benchmarkLoadConfig(b, ".toml", false) }

func BenchmarkLoadConfigJSON(b *testing.B) { benchmarkLoadConfig(b, ".json", false) }

// A warning on each of many lines: finding each one's position must not
// scan the file (or the object's keys) from the start.
func BenchmarkLoadConfigWarningsTOML(b *testing.B) { benchmarkLoadConfig(b, ".toml", true) }

func BenchmarkLoadConfigWarningsJSON(b *testing.B) { benchmarkLoadConfig(b, ".json", true) }
