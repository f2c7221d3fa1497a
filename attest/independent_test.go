package attest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/verify"
)

// pythonWithCryptography returns a python3 that can import cryptography
// (Debian: python3-cryptography), or skips the test.
func pythonWithCryptography(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import cryptography.hazmat.primitives.asymmetric.ed25519").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with the cryptography module: apt-get install python3-cryptography")
	return ""
}

// TestIndependentVerification has another implementation check our
// envelope: Python's cryptography verifies the ed25519 signature over the
// DSSE pre-authentication encoding it computes itself, and Python's json
// reads the subjects, which must be the report's verified outputs.
func TestIndependentVerification(t *testing.T) {
	python := pythonWithCryptography(t)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "run.intoto.json")
	if err := os.WriteFile(envFile, signedBy(t, nil, "alice"), 0o644); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join("testdata", "keys", "alice.pub")
	out, err := exec.Command(python, filepath.Join("testdata", "dsse_verify.py"), envFile, pub).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var want []string
	for _, s := range sampleReport().Steps {
		if s.Status != verify.StatusOK {
			continue
		}
		for _, o := range s.Outputs {
			want = append(want, o.SHA256+"  "+o.Path)
		}
	}
	sort.Strings(want)
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("python read the subjects\n%s\nwant the report's verified outputs\n%s", got, strings.Join(want, "\n"))
	}

	// The same check refuses a payload changed after signing, and a
	// signature checked with another party's key.
	tampered := filepath.Join(dir, "tampered.intoto.json")
	if err := os.WriteFile(tampered, editPayload(t, signedBy(t, nil, "alice"), sum("M2"), sum("M3")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{tampered, pub}, {envFile, filepath.Join("testdata", "keys", "bob.pub")}} {
		out, err := exec.Command(python, filepath.Join("testdata", "dsse_verify.py"), c[0], c[1]).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "does not verify") {
			t.Errorf("python accepted %s with %s: %v\n%s", filepath.Base(c[0]), filepath.Base(c[1]), err, out)
		}
	}
}
