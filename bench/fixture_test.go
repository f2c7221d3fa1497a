package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/verify"
)

// fixtureDir is the offline fixture chain: our x86 seeds rebuild
// themselves, then build and run a small program, four verified steps.
const fixtureDir = "../testdata/chains/fixture"

func loadFixture(b *testing.B) *chain.Chain {
	b.Helper()
	if err := sandbox.Available(); err != nil {
		b.Skipf("sandbox not available here, so the fixture chain's steps cannot run: %v", err)
	}
	c, err := chain.Load(fixtureDir)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// run runs the fixture chain and fails the benchmark unless every verified
// step ended ok with the wanted cache state. It returns the number of
// steps that ran.
func run(b *testing.B, o engine.Options, cached bool) int {
	b.Helper()
	rep, err := engine.Run(context.Background(), o)
	if err != nil {
		b.Fatalf("fixture chain: %v", err)
	}
	if !rep.OK {
		b.Fatalf("fixture chain: report not ok: %s", rep.Error)
	}
	n := 0
	var got []string
	for _, s := range rep.Steps {
		if s.Status == verify.StatusSkipped {
			continue
		}
		n++
		got = append(got, s.Name+"="+s.Status)
		if s.Status != verify.StatusOK || s.Cached != cached {
			b.Fatalf("fixture chain: step %s: status %s cached %v, expected ok cached %v (steps: %s)", s.Name, s.Status, s.Cached, cached, strings.Join(got, " "))
		}
	}
	if n == 0 {
		b.Fatal("fixture chain: no step ran")
	}
	return n
}

// BenchmarkFixtureChain runs the offline fixture chain through the engine
// with the sandbox backend and step roots where bootchain puts them
// (/dev/shm when it is a tmpfs): cold, with an empty store so that every
// step runs and is verified and re-derived; and warm, with every step
// placed from the store. It reports the time per run and per step.
func BenchmarkFixtureChain(b *testing.B) {
	c := loadFixture(b)
	b.Run("cold", func(b *testing.B) {
		steps := 0
		for b.Loop() {
			steps = run(b, engine.Options{Chain: c, CacheDir: b.TempDir(), NoCache: true}, false)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*steps)*1e3, "ms/step")
	})
	b.Run("warm", func(b *testing.B) {
		o := engine.Options{Chain: c, CacheDir: b.TempDir()}
		run(b, o, false) // fill the store; b.Loop times only what follows
		steps := 0
		for b.Loop() {
			steps = run(b, o, true)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*steps)*1e3, "ms/step")
	})
}
