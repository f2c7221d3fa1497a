package attest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/bootchain/bootchain/verify"
)

func TestCompare(t *testing.T) {
	signer := func(name string) []AllowedSigner { return []AllowedSigner{{Principals: []string{name}}} }
	base := func() Run { return sampleRun(t) }
	party := func(file string, signers []AllowedSigner, edit func(*Run)) Party {
		r := base()
		if edit != nil {
			edit(&r)
		}
		return Party{File: file, Run: r, Signers: signers}
	}
	tests := []struct {
		name    string
		parties []Party
		quorum  int
		agree   bool
		short   []string
		diffs   []Difference
	}{
		{"two signers agree", []Party{party("a", signer("alice"), nil), party("b", signer("bob"), nil)}, 2, true, []string{}, []Difference{}},
		{"same signer twice is one", []Party{party("a", signer("alice"), nil), party("a2", signer("alice"), nil)}, 2, true, []string{"seed", "mini", "later"}, []Difference{}},
		{"unsigned never counts", []Party{party("a", signer("alice"), nil), party("r", nil, nil)}, 2, true, []string{"seed", "mini", "later"}, []Difference{}},
		{"one file differs", []Party{party("a", signer("alice"), nil), party("b", signer("bob"), func(r *Run) { r.Steps[1].Outputs[0].SHA256 = sum("other") })}, 1, false, []string{},
			[]Difference{{Step: "mini", Path: "x86/bin/M2-Planet", Claims: []Claim{{SHA256: sum("M2"), Parties: []int{1}}, {SHA256: sum("other"), Parties: []int{2}}}}}},
		{"a file missing", []Party{party("a", signer("alice"), nil), party("b", signer("bob"), func(r *Run) { r.Steps[2].Outputs = nil })}, 1, false, []string{},
			[]Difference{{Step: "later", Path: "x86/bin/cc", Claims: []Claim{{SHA256: sum("cc"), Parties: []int{1}}, {SHA256: "", Parties: []int{2}}}}}},
		{"placed steps are not run", []Party{party("a", signer("alice"), nil), party("b", signer("bob"), func(r *Run) {
			r.Steps[0].Status, r.Steps[0].Outputs = verify.StatusPlaced, nil
		})}, 2, true, []string{"seed"}, []Difference{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(tc.parties, tc.quorum)
			if c.Agree != tc.agree || c.OK != (tc.agree && len(tc.short) == 0) {
				t.Errorf("agree %v ok %v, want agree %v", c.Agree, c.OK, tc.agree)
			}
			if !reflect.DeepEqual(c.ShortOfQuorum, tc.short) {
				t.Errorf("short of quorum %v, want %v", c.ShortOfQuorum, tc.short)
			}
			if !reflect.DeepEqual(c.Differences, tc.diffs) {
				t.Errorf("differences %+v, want %+v", c.Differences, tc.diffs)
			}
		})
	}
}

func TestCompareText(t *testing.T) {
	alice := sampleRun(t)
	alice.Backend, alice.Accel, alice.KernelSHA256 = "sandbox", "", ""
	bob := sampleRun(t)
	bob.Ended = time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	bob.Steps[1].Cached = false
	bob.Steps[0].Outputs[1].SHA256 = sum("evil")
	parties := []Party{
		{File: "alice.intoto.json", Run: alice, Signers: []AllowedSigner{{Principals: []string{"alice@example.org"}}}, KeyIDs: []string{"SHA256:a"}},
		{File: "bob.intoto.json", Run: bob, Signers: []AllowedSigner{{Principals: []string{"bob@example.org"}}}, KeyIDs: []string{"SHA256:b"}},
		{File: "carol.json", Run: alice},
	}
	var b bytes.Buffer
	if err := Compare(parties, 2).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.golden.txt", b.Bytes())
}
