package attest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseAllowedSigners: any input parses or fails with an error naming
// the file; what parses has a principal and an ed25519 key on every line.
func FuzzParseAllowedSigners(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "allowed_signers"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`"a b",c valid-before="20260101Z",namespaces="x,y" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvShp/M8LMIHFm8xvcDWPdiXq0lPLwahwwwCasDgzFW c`))
	f.Add([]byte("a cert-authority ssh-ed25519 AAAA\n#\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAllowedSigners("f", b)
		if err != nil {
			return
		}
		for _, s := range a.Signers {
			if len(s.Principals) == 0 || s.Key == nil || s.Line < 1 {
				t.Fatalf("parsed a signer without principal, key or line: %+v", s)
			}
			if _, err := newVerifier(s.Key); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzOpenEnvelope: any input is refused or read as a run with a chain;
// nothing panics, and nothing unsigned is ever verified.
func FuzzOpenEnvelope(f *testing.F) {
	good, err := os.ReadFile(filepath.Join("testdata", "envelope.golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[]}`))
	signers := testSigners(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if a, err := Open(env); err == nil && (a.Run.Chain == "" || a.Run.ChainDigest == "") {
			t.Fatalf("opened a run without chain: %+v", a.Run)
		}
		a, err := Verify(t.Context(), env, signers)
		if err == nil && len(a.Signers) != len(env.Signatures) {
			t.Fatalf("verified %d signatures of %d", len(a.Signers), len(env.Signatures))
		}
	})
}
