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
// returns its path.
func writeVarsConfig(b *testing.B, dir, ext string, n int) string {
	b.Helper()
	var s strings.Builder
	if ext == ".toml" {
		s.WriteString("name = \"big\"\n[vars]\n")
		for i := range n {
			fmt.Fprintf(&s, "VAR_%d = \"value %d\"\n", i, i)
		}
	} else {
		s.WriteString("{\"name\": \"big\", \"vars\": {\n")
		for i := range n {
			if i > 0 {
				s.WriteString(",\n")
			}
			fmt.Fprintf(&s, "  \"VAR_%d\": \"value %d\"", i, i)
		}
		s.WriteString("\n}}\n")
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
func benchmarkLoadConfig(b *testing.B, ext string) {
	dir := b.TempDir()
	small := writeVarsConfig(b, dir, ext, 10_000)
	large := writeVarsConfig(b, dir, ext, 100_000)
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

func BenchmarkLoadConfigTOML(b *testing.B) { benchmarkLoadConfig(b, ".toml") }

func BenchmarkLoadConfigJSON(b *testing.B) { benchmarkLoadConfig(b, ".json") }
