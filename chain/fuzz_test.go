package chain

import (
	"io"
	"path"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary definitions (with the hash lists of the test
// chain beside them) to the parser: it must never panic, every error must
// name the file, and every chain it accepts must be usable.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, "seeds/kaem ", "seeds/kaem\nseed-source hex0-seed seeds/h.hex0 ", 1)))
	f.Add([]byte("chain f\narch amd64\nseed hex0-seed s\nstep a\n run s\n outputs one.sha256\n"))
	f.Add([]byte(strings.Replace(good, "    strip 1\n", "    strip 1\n    at src/up-1.0\n", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		text := strings.ReplaceAll(string(data), "chain t\n", "chain f\n")
		c, err := Parse("f", files(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "chain/f/") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.Name != "f" || c.Arch == "" || len(c.Seeds) == 0 || len(c.Steps) == 0 {
			t.Fatalf("accepted an incomplete chain: %+v", c)
		}
		seen := map[string]bool{}
		for _, s := range c.Steps {
			if seen[s.Name] || len(s.Argv) == 0 || len(s.Outputs) == 0 || s.Timeout <= 0 || !strings.HasPrefix(s.Dir, "/") {
				t.Fatalf("accepted a bad step: %+v", s)
			}
			seen[s.Name] = true
			for _, u := range s.Uses {
				if _, ok := c.Source(u); !ok {
					t.Fatalf("step %s uses unknown source %s", s.Name, u)
				}
			}
		}
		for _, src := range c.Sources {
			if a := src.At; a != "" && (path.Clean(a) != a || strings.HasPrefix(a, "/") || a == ".." || strings.HasPrefix(a, "../")) {
				t.Fatalf("source %s: accepted at %q, not a clean path inside the root", src.Name, a)
			}
		}
		if len(c.Digest()) != 64 {
			t.Fatalf("bad digest")
		}
		if err := c.WritePlan(io.Discard, PlanState{}); err != nil {
			t.Fatal(err)
		}
	})
}
