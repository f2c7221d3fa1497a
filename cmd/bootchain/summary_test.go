package main

import (
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// TestRunSummary: the run's last line counts the steps it meant to run and
// says where it stopped, why, and what it did not mean to run, for the
// embedded x86 chain's plain run (its default stop is full, step 3 of 24).
func TestRunSummary(t *testing.T) {
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	report := func(ran int, status, until, from string) *verify.Report {
		rep := &verify.Report{Until: until, UntilFrom: from}
		for i, s := range c.Steps {
			st := verify.StepReport{Name: s.Name, Status: verify.StatusNotRequested}
			if i < ran {
				st.Status, st.Cached = status, i == 0
			}
			rep.Steps = append(rep.Steps, st)
		}
		return rep
	}
	for _, tc := range []struct {
		name string
		rep  *verify.Report
		want string
	}{
		{"plain run", report(3, verify.StatusOK, "full", verify.UntilDefault),
			"3 steps verified, 1 from the cache (the default stop, full; not requested: 25 more with --until gcc-hello, 1 pending (no commands yet))"},
		{"--until mes-hello", report(8, verify.StatusOK, "mes-hello", verify.UntilFlag),
			"8 steps verified, 1 from the cache (--until mes-hello; not requested: 20 more with --until gcc-hello, 1 pending (no commands yet))"},
		{"--until tcc-hello", report(12, verify.StatusOK, "tcc-hello", verify.UntilFlag),
			"12 steps verified, 1 from the cache (--until tcc-hello; not requested: 16 more with --until gcc-hello, 1 pending (no commands yet))"},
		{"one step", report(1, verify.StatusOK, "seed", verify.UntilFlag),
			"1 step verified, 1 from the cache (--until seed; not requested: 27 more with --until gcc-hello, 1 pending (no commands yet))"},
	} {
		if got := runSummary(c, tc.rep); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
