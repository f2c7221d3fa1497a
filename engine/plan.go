package engine

import (
	"context"
	"path/filepath"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/store"
)

// Cache states shown by Plan.
const (
	Cached    = "cached"
	NotCached = "not cached"
)

// Plan returns what `bootchain plan` shows beyond the definition: the
// seeds' hashes and each step's planned cache key with whether the store
// under cacheDir holds it, and which outputs a run re-derives with the Go
// twins when the sources in the cache tell (PlanDerived).
func Plan(c *chain.Chain, cacheDir string) (chain.PlanState, error) {
	st := chain.PlanState{Seeds: map[string]string{}, SeedSources: map[string]string{}}
	seeds, err := seedFiles(c)
	if err != nil {
		return st, err
	}
	for _, s := range seeds {
		if s.source {
			st.SeedSources[s.name] = s.sha256
		} else {
			st.Seeds[s.name] = s.sha256
		}
	}
	keys, err := PlannedKeys(c)
	if err != nil {
		return st, err
	}
	s, err := store.Open(filepath.Join(cacheDir, "store"))
	if err != nil {
		return st, err
	}
	for _, k := range keys {
		state := NotCached
		if _, found, err := s.Get(k); err == nil && found {
			state = Cached
		}
		st.Steps = append(st.Steps, chain.StepState{Key: k, Cache: state})
	}
	// Which outputs a run re-derives, as far as the sources at hand tell.
	derived, _ := PlanDerived(context.Background(), c, nil, cacheDir)
	for i := range st.Steps {
		st.Steps[i].Derived = derived[i]
	}
	return st, nil
}
