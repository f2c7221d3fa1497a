package chain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// liveBootstrapTools is every output hash live-bootstrap publishes, at
// commit aae7c4a6, for the steps that follow TinyCC in its
// sysa/run-after-fiwix.kaem (sysa/<pkg>/<pkg>.checksums), with the x86
// chain's step that builds the file. Our steps install where
// live-bootstrap does, so our path is live-bootstrap's less the leading /.
// differs is empty when our pin must equal live-bootstrap's; otherwise it
// says why not (a substituted source, another path, ...), and BOOTSTRAP.md
// must say so too.
var liveBootstrapTools = []struct {
	lbFile, lbSHA256, step, differs string
}{
	// make-3.82.checksums
	{"/usr/bin/make", "aa57178c15d44020d30cc893a5cf75278a38a801361f0373cf17600cf534c73c", "make", ""},
	// patch-2.5.9.checksums
	{"/usr/bin/patch", "0ad4338d5aaf61d126984508172e731da3162fea3d46b9fb34b2dc71beb96a1c", "patch", ""},
	// gzip-1.2.4.checksums
	{"/usr/bin/gzip", "6608aee8c4a8fdb0945e8b7b0a6f9fe3ca5336394bbcbc564879971e0129a6f1", "gzip",
		"substituted source: the release's getopt.c and getopt.h are in no reachable history, so make 3.82's are linked in"},
	// tar-1.12.checksums
	{"/usr/bin/tar", "2186b01ab8d953222f15cab0d257f80215f4a17c53b30a5a7467b80e49c2cc34", "tar",
		"substituted source: tar's history has 1.12's src/ but not its lib/, which comes from coreutils' history of the day before"},
	// sed-4.0.9.checksums
	{"/usr/bin/sed", "bf0d4ef807c706a2b201c7d132c70314ad96aa24353d444bcaed4eca6c95a528", "sed",
		"substituted source: sed 4.0.9 cannot be had; the step builds 4.1.5, the nearest release that can, with bootchain's makefile"},
}

// TestLiveBootstrapTools holds the x86 chain's pins for the tools built
// after TinyCC against live-bootstrap's published hashes: each equal, or
// differing for the reason the table and BOOTSTRAP.md give. With
// BOOTCHAIN_TOOLS_WORK set to the --work tree of a real run that went at
// least as far as these steps, the files there are hashed too.
func TestLiveBootstrapTools(t *testing.T) {
	c, err := Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../BOOTSTRAP.md")
	if err != nil {
		t.Fatal(err)
	}
	// make, patch, gzip, tar and sed publish one file each.
	if len(liveBootstrapTools) < 5 {
		t.Fatalf("the table lists %d of live-bootstrap's hashes, want at least the 5 of make, patch, gzip, tar and sed", len(liveBootstrapTools))
	}
	final := c.FinalPins("")
	work := os.Getenv("BOOTCHAIN_TOOLS_WORK")
	if work == "" {
		t.Log("BOOTCHAIN_TOOLS_WORK is not set: the pins are compared, no run's tree (set it to a run's --work tree to hash its files too)")
	}
	seen := map[string]bool{}
	for _, lb := range liveBootstrapTools {
		if seen[lb.lbFile] {
			t.Errorf("%s: listed twice", lb.lbFile)
		}
		seen[lb.lbFile] = true
		i := c.StepIndex(lb.step)
		if i < 0 {
			t.Errorf("%s: chain x86 has no step %s", lb.lbFile, lb.step)
			continue
		}
		st := c.Steps[i]
		if st.Unverified {
			t.Errorf("%s: step %s is in the unverified section", lb.lbFile, lb.step)
		}
		ours := strings.TrimPrefix(lb.lbFile, "/")
		pin, ok := st.Outputs[ours]
		switch {
		case !ok:
			t.Errorf("%s: step %s pins no %s", lb.lbFile, lb.step, ours)
			continue
		case lb.differs == "" && pin != lb.lbSHA256:
			t.Errorf("%s: step %s pins %s, live-bootstrap publishes %s", lb.lbFile, lb.step, pin, lb.lbSHA256)
		case lb.differs != "" && pin == lb.lbSHA256:
			t.Errorf("%s: equal to live-bootstrap's %s, but the table says it differs (%s)", lb.lbFile, pin, lb.differs)
		case lb.differs != "" && !strings.Contains(string(doc), pin):
			t.Errorf("%s differs from live-bootstrap's (%s), but BOOTSTRAP.md does not give our %s", lb.lbFile, lb.differs, pin)
		}
		if !strings.Contains(string(doc), lb.lbSHA256) {
			t.Errorf("BOOTSTRAP.md does not list live-bootstrap's %s for %s", lb.lbSHA256, lb.lbFile)
		}
		if work == "" {
			continue
		}
		if final[ours] != pin {
			t.Logf("%s: a later step rewrote it; not hashed in the run's tree", lb.lbFile)
			continue
		}
		got, err := fileSHA256(filepath.Join(work, filepath.FromSlash(ours)))
		if err != nil {
			t.Errorf("%s: %v", lb.lbFile, err)
		} else if got != pin {
			t.Errorf("%s: %s in %s is %s, pinned %s", lb.lbFile, ours, work, got, pin)
		}
	}
}
