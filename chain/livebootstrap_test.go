package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// liveBootstrapTCC is every output hash live-bootstrap publishes for its
// TinyCC steps at commit aae7c4a6 (sysa/tcc-0.9.26/tcc-0.9.26.checksums,
// 13 files, and sysa/tcc-0.9.27/tcc-0.9.27.checksums, 1 file), with the
// x86 chain's step and file that correspond. Our steps lay the files out
// where live-bootstrap does, so the path is the same, less the leading /.
// differs is empty when our pin must equal live-bootstrap's; otherwise it
// says why not, and BOOTSTRAP.md must say so too.
var liveBootstrapTCC = []liveBootstrapPin{
	{"/usr/bin/mes-tcc", "7897c2ba182e92765856a9e3ddd2bdfcd69988b3ddc45b3ef932dc3ec041041a", "tcc-mes", ""},
	{"/usr/bin/boot0-tcc", "64bdb36f0048744957454b6ad186d37db4a7fcc392f67bf052b9bc7ec033b963", "tcc-boot", ""},
	{"/usr/bin/boot1-tcc", "18af79e0e3c4bfeaced2b0867561bc9fd370cbfcc78860de5a70926374ba7c53", "tcc-boot", ""},
	{"/usr/bin/boot2-tcc", "d6fa0c2006f6c8fefb4f3750fade14aa884670637098857d06aef3c7a9bd02d8", "tcc-boot", ""},
	{"/usr/bin/boot3-tcc", "93b2c1c567f5938435fbe6c0115276f6073bd46a0a92791b164ca2752180caf5", "tcc-boot", ""},
	{"/usr/bin/boot4-tcc", "a40305e6d2acb3dc64dbc80f64952431f4728eeff03f6e7c91c737cbf6e1bdda", "tcc-boot", ""},
	{"/usr/bin/tcc", "c56d99e284dfecae047e792b049c0cee022452f13262d6b3c869ec1c9935b276", "tcc-boot", ""},
	{"/usr/lib/mes/libc.a", "96f93f2d281ee6996767b25fbff4441e8335e7eeaeab060c1d4b698366b277c9", "tcc-boot", ""},
	{"/usr/lib/mes/libgetopt.a", "12c07ae103e7e3b390150a79e5c600d88de14e9bb73a066f6342582729ef5a3f", "tcc-boot", ""},
	{"/usr/lib/mes/crt1.o", "d1168ee9b528e39f0b40e8d51fb7fa3619c4a5ee928137f7faf6d0879b0916b0", "tcc-boot", ""},
	{"/usr/lib/mes/crti.o", "09d4f9821a2566f7e56381a19259c41bd97f3c5ed83f490705acbfd1139a7736", "tcc-boot", ""},
	{"/usr/lib/mes/crtn.o", "461ca1494737fab86fe1c1d3addeaf9d0ece413e353abcdea8674db3f700cda3", "tcc-boot", ""},
	{"/usr/lib/mes/tcc/libtcc1.a", "ac11f09698f092ed76ae40ebcd56cf3f2b903ea1333ef7537a00673dd6f73da7", "tcc-boot", ""},
	{"/usr/bin/tcc", "e5f00ef66c5796f436089d3f6e67af001182e6fbb439d13bb65eef8cf82f5973", "tcc-0.9.27", ""},
}

// TestLiveBootstrapTCC holds the x86 chain's TinyCC pins against
// live-bootstrap's 14 published hashes: each equal, or differing for the
// reason the table and BOOTSTRAP.md give. The final tcc of 0.9.26 and the
// tcc of 0.9.27 must be equal. With BOOTCHAIN_TCC_WORK set to the --work
// tree of a real run to tcc-hello (or later), the files there are hashed
// too: those no later step rewrote must equal the pins.
func TestLiveBootstrapTCC(t *testing.T) {
	c, doc := loadX86Doc(t)
	if len(liveBootstrapTCC) != 14 {
		t.Fatalf("the table lists %d of live-bootstrap's hashes, want all 14", len(liveBootstrapTCC))
	}
	final := c.FinalPins("")
	work := runTree(t, "BOOTCHAIN_TCC_WORK")
	for _, lb := range liveBootstrapTCC {
		st, ours, pin, ok := ourPin(t, c, doc, lb)
		if !ok {
			continue
		}
		if lb.differs != "" && (lb.lbFile == "/usr/bin/tcc") {
			t.Errorf("%s (step %s): the final tcc must equal live-bootstrap's", lb.lbFile, lb.step)
		}
		if work == "" {
			continue
		}
		if final[ours] != pin {
			// A later step rewrote the file: a copy the step also
			// pinned (usr/bin/tcc-0.9.26 for the final tcc 0.9.26) may
			// still be there.
			ours = ""
			for _, p := range SortedPaths(st.Outputs) {
				if st.Outputs[p] == pin && final[p] == pin {
					ours = p
					break
				}
			}
			if ours == "" {
				t.Logf("%s: a later step rewrote it, and no copy is left in the run's tree", lb.lbFile)
				continue
			}
		}
		checkInTree(t, work, lb, ours, pin)
	}
}

// liveBootstrapPin is one output hash live-bootstrap publishes: its file,
// its SHA-256, the x86 chain's step that makes the file, and why ours
// differs (empty when it must be equal).
type liveBootstrapPin struct {
	lbFile, lbSHA256, step, differs string
}

// ourPin finds the chain's pin for lb's file (live-bootstrap's path less
// the leading /) and checks it against lb: equal, or differing for the
// reason given, which BOOTSTRAP.md must show with our hash and theirs.
// ok is false when the chain has no such step or pin.
func ourPin(t *testing.T, c *Chain, doc []byte, lb liveBootstrapPin) (st Step, ours, pin string, ok bool) {
	t.Helper()
	i := c.StepIndex(lb.step)
	if i < 0 {
		t.Errorf("%s: chain x86 has no step %s", lb.lbFile, lb.step)
		return Step{}, "", "", false
	}
	st = c.Steps[i]
	if st.Unverified {
		t.Errorf("%s: step %s is in the unverified section", lb.lbFile, lb.step)
	}
	ours = strings.TrimPrefix(lb.lbFile, "/")
	pin, ok = st.Outputs[ours]
	switch {
	case !ok:
		t.Errorf("%s: step %s pins no %s", lb.lbFile, lb.step, ours)
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
	return st, ours, pin, ok
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadX86Doc loads chain x86 and BOOTSTRAP.md, for the tests that hold
// its pins against live-bootstrap's.
func loadX86Doc(t *testing.T) (*Chain, []byte) {
	t.Helper()
	c, err := Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../BOOTSTRAP.md")
	if err != nil {
		t.Fatal(err)
	}
	return c, doc
}

// runTree returns the --work tree the variable env names, logging that
// only the pins are compared when it is unset.
func runTree(t *testing.T, env string) string {
	t.Helper()
	work := os.Getenv(env)
	if work == "" {
		t.Logf("%s is not set: the pins are compared, no run's tree (set it to a run's --work tree to hash its files too)", env)
	}
	return work
}

// checkInTree hashes ours in the run's tree work against pin.
func checkInTree(t *testing.T, work string, lb liveBootstrapPin, ours, pin string) {
	t.Helper()
	got, err := fileSHA256(filepath.Join(work, filepath.FromSlash(ours)))
	if err != nil {
		t.Errorf("%s: %v", lb.lbFile, err)
	} else if got != pin {
		t.Errorf("%s: %s in %s is %s, pinned %s", lb.lbFile, ours, work, got, pin)
	}
}
