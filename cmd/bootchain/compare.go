package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bootchain/bootchain/attest"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// maxInput bounds an attestation or report compare reads (the x86 chain's
// report to its end is a few MB).
const maxInput = 256 << 20

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", "[--allowed-signers FILE] [--quorum N] [--chain NAME] [--json] FILE...", stderr)
	signersFile := fs.String("allowed-signers", "", "verify every signature against this OpenSSH allowed-signers `FILE` (git's gpg.ssh.allowedSignersFile format)")
	quorum := fs.Int("quorum", -1, "require every step any party ran to be signed by at least `N` distinct signers (default 1 with --allowed-signers, else 0)")
	chainName := fs.String("chain", "", "require every input to be of this chain (`NAME` or directory) at its current digest; default: the first input's chain")
	jsonOut := fs.Bool("json", false, "print the comparison as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("compare: expected attestations or reports to compare, found none")
	}
	var allowed *attest.AllowedSigners
	if *signersFile != "" {
		if allowed, err = attest.LoadAllowedSigners(*signersFile); err != nil {
			return err
		}
	}
	switch {
	case *quorum < 0 && allowed != nil:
		*quorum = 1
	case *quorum < 0:
		*quorum = 0
	case *quorum > 0 && allowed == nil:
		return usagef("compare: --quorum %d counts verified signatures: give --allowed-signers FILE", *quorum)
	}
	var wantChain, wantDigest, wantFrom string
	if *chainName != "" {
		c, err := chain.Load(*chainName)
		if err != nil {
			return err
		}
		wantChain, wantDigest, wantFrom = c.Name, c.Digest(), "--chain "+*chainName
	}

	bad := 0
	var parties []attest.Party
	for _, file := range pos {
		p, err := readParty(ctx, file, allowed)
		if err == nil && wantChain == "" {
			wantChain, wantDigest, wantFrom = p.Run.Chain, p.Run.ChainDigest, file
		}
		if err == nil && (p.Run.Chain != wantChain || p.Run.ChainDigest != wantDigest) {
			err = fmt.Errorf("a run of chain %s (digest %s), expected chain %s (digest %s) as %s", p.Run.Chain, p.Run.ChainDigest, wantChain, wantDigest, wantFrom)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bootchain: %s: %s\n", file, oneLine(err.Error()))
			bad++
			continue
		}
		if allowed == nil && len(p.KeyIDs) > 0 {
			fmt.Fprintf(stderr, "bootchain: %s: signatures not checked (no --allowed-signers): it counts as unsigned\n", file)
		}
		parties = append(parties, p)
	}
	cmp := attest.Compare(parties, *quorum)
	if *jsonOut {
		out := struct {
			*attest.Comparison
			Refused int `json:"refused"`
		}{cmp, bad}
		out.OK = cmp.OK && bad == 0
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if len(parties) > 0 {
		cmp.WriteText(stdout)
	}
	switch {
	case bad > 0:
		return failure{fmt.Errorf("%d of %d inputs refused", bad, len(pos))}
	case !cmp.OK:
		return failure{errors.New("the parties disagree or a step is short of the quorum")}
	}
	return nil
}

// readParty reads an attestation (a DSSE envelope, verified against
// allowed when given) or a plain report (unsigned).
func readParty(ctx context.Context, file string, allowed *attest.AllowedSigners) (attest.Party, error) {
	b, err := verify.ReadRegular(file, maxInput)
	if err != nil {
		return attest.Party{}, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return attest.Party{}, fmt.Errorf("neither an attestation nor a report: %v", err)
	}
	_, isEnv := probe["payloadType"]
	if _, ok := probe["signatures"]; ok {
		isEnv = true
	}
	if !isEnv {
		rep, err := verify.DecodeReport(b)
		if err != nil {
			return attest.Party{}, err
		}
		r, err := attest.FromReport(rep)
		if err != nil {
			return attest.Party{}, err
		}
		return attest.Party{File: file, Run: r}, nil
	}
	env, err := attest.ParseEnvelope(b)
	if err != nil {
		return attest.Party{}, err
	}
	var a *attest.Attestation
	if allowed != nil {
		a, err = attest.Verify(ctx, env, allowed)
	} else {
		a, err = attest.Open(env)
	}
	if err != nil {
		return attest.Party{}, err
	}
	return attest.Party{File: file, Run: a.Run, Signers: a.Signers, KeyIDs: a.KeyIDs}, nil
}
