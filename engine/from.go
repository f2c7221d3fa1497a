package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// testGuestHook, when set (tests), sees the guest of a qemu run before it
// boots, and may change it: how a test damages the guest's root after the
// host checked it.
var testGuestHook func(*qemu.Guest)

// A run --from STEP starts at STEP instead of the seeds. Every file the
// step starts from is known from the pins, so the run builds that tree
// without running anything before STEP: the seeds, the pinned files of
// every source used so far (each checked as always) and the outputs of the
// steps before STEP, taken from the step store under the keys the pins
// predict and re-hashed as they are placed. Those steps are reported
// "placed"; a step whose outputs are not in the store is an error that
// names it (run that far, or import an archive holding it). The report
// records the step the run started at and the digest of the tree it
// started from (TreeDigest). Under qemu the guest boots with that tree and
// checks it again itself before the first step (guestcheck.go).

// NotCachedError is a run --from that cannot start: the store holds no
// verified outputs for Step, one of the steps before From.
type NotCachedError struct {
	From, Step string
	Key        string
	// Until is the step before From: running the chain to it makes every
	// output the run --from needs.
	Until string
	// Chain is the chain's name for the suggested command; the caller may
	// set it (errors.As) before printing. Empty leaves --chain out.
	Chain string
}

func (e *NotCachedError) Error() string {
	chainFlag := ""
	if e.Chain != "" {
		chainFlag = " --chain " + e.Chain
	}
	return fmt.Sprintf("--from %s: step %s has no verified outputs in the cache (key %s); run it first: `bootchain run%s --until %s` runs the chain to just before %s, or `bootchain import` an archive that holds it",
		e.From, e.Step, short(e.Key), chainFlag, e.Until, e.From)
}

func short(key string) string {
	if len(key) > 16 {
		return key[:16]
	}
	return key
}

// checkFrom validates Options.From once r.last is known: the steps before
// it must be ones the store can hold (verified, with commands).
func (r *run) checkFrom() error {
	if r.opts.From == "" {
		return nil
	}
	i := r.c.StepIndex(r.opts.From)
	if i < 0 {
		var names []string
		for _, s := range r.c.Steps {
			names = append(names, s.Name)
		}
		return fmt.Errorf("--from %s: chain %s has no such step (it has %s)", r.opts.From, r.c.Name, strings.Join(names, ", "))
	}
	st := r.c.Steps[i]
	if st.Pending != "" {
		return fmt.Errorf("--from %s: the step is pending (%s): it has no commands yet", st.Name, st.Pending)
	}
	if st.Unverified && !r.opts.Unverified {
		return fmt.Errorf("--from %s: the step is in the unverified section; add --unverified to run it", st.Name)
	}
	if i > r.last {
		return fmt.Errorf("--from %s: comes after the run's last step (%s); give --until %s or a later step", st.Name, r.c.Steps[max(r.last, 0)].Name, st.Name)
	}
	for j := 0; j < i; j++ {
		if b := r.c.Steps[j]; b.Unverified || b.Pending != "" {
			return fmt.Errorf("--from %s: step %s before it is in the unverified section, so the cache never holds its outputs; start at %s or earlier", st.Name, b.Name, b.Name)
		}
	}
	r.from = i
	return nil
}

// fromUntil is the --until a run --from gets when none is given: the
// chain's default-until, unless STEP comes after it; then the end of the
// verified section.
func fromUntil(c *chain.Chain, from string) string {
	d := c.StepIndex(c.DefaultUntil)
	if from == "" || d < 0 || c.StepIndex(from) <= d {
		return c.DefaultUntil
	}
	return ""
}

// placeFrom builds the tree step r.from starts from: it opens the sources
// of the steps before it and places their outputs from the store, each
// blob re-hashed against its pin, then opens r.from's own sources and
// records the tree's digest in the report.
func (r *run) placeFrom(ctx context.Context) error {
	if r.opts.From == "" {
		return nil
	}
	for i := 0; i < r.from; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.place(ctx, i); err != nil {
			return err
		}
	}
	if err := r.openSources(ctx, r.c.Steps[r.from]); err != nil {
		return err
	}
	r.report.From = r.c.Steps[r.from].Name
	r.report.StartTree = TreeDigest(r.inputs())
	r.log.WithFields(logrus.Fields{"from": r.report.From, "files": len(r.state), "digest": r.report.StartTree}).Info("starting tree placed")
	return nil
}

// place puts step i's outputs into the tree from the store without
// running it.
func (r *run) place(ctx context.Context, i int) error {
	st := r.c.Steps[i]
	rep := &r.report.Steps[i]
	start := time.Now()
	if err := r.openSources(ctx, st); err != nil {
		return err
	}
	inputs := r.inputs()
	key := Key(st, inputs)
	entry, found, err := r.store.Get(key)
	if err != nil {
		return fmt.Errorf("--from %s: step %s: %w", r.opts.From, st.Name, err)
	}
	if !found {
		return &NotCachedError{From: r.opts.From, Step: st.Name, Key: key, Until: r.c.Steps[r.from-1].Name}
	}
	if err := r.fromStore(ctx, st, entry); err != nil {
		var me *verify.MismatchError
		if errors.As(err, &me) {
			me.Meaning = fmt.Sprintf("the cached copy was changed after it was stored; rebuild it with `bootchain run --until %s --no-cache`, or import it again", st.Name)
		}
		return fmt.Errorf("--from %s: %w", r.opts.From, err)
	}
	rep.Status, rep.Cached = verify.StatusPlaced, true
	rep.Inputs = pinResults(inputs, inputs, st.Outputs)
	rep.Outputs = pinResults(entry.Files, st.Outputs, nil)
	rep.Seconds = time.Since(start).Seconds()
	r.log.WithFields(logrus.Fields{"step": st.Name, "key": short(key), "files": len(entry.Files)}).Info("step outputs placed from the store (before --from)")
	r.emit(Event{Kind: EventEnd, Step: st.Name, Index: i + 1, Total: r.last + 1, Status: rep.Status, Cached: true, Seconds: rep.Seconds})
	return nil
}

// TreeDigest returns the SHA-256 of a tree given as path -> sha256: over
// one "<sha256>  <path>\n" line per file, sorted by path (the form of
// sha256sum and of Chain.Digest).
func TreeDigest(files map[string]string) string {
	h := sha256.New()
	for _, p := range chain.SortedPaths(files) {
		h.Write([]byte(files[p] + "  " + p + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
