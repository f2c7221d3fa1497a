package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
)

// fixtureArches are the offline fixture chains, one per seed set: the same
// steps, from the x86 and from the AMD64 seeds.
var fixtureArches = []struct{ arch, dir string }{
	{"x86", fixtureDir},
	{"amd64", "../testdata/chains/fixture-amd64"},
}

// TestFixtureArches runs each architecture's fixture chain, unverified step
// included, in the sandbox and (when QEMU and a kernel are at hand) in a
// QEMU guest, and re-derives it on the host: every step verifies, the
// seeds rebuild themselves, the hello program runs and writes its line, the
// Go twins derive every output of the derive steps from the pinned sources
// alone, and both backends give the same hash for every output.
func TestFixtureArches(t *testing.T) {
	needSandbox(t)
	for _, fx := range fixtureArches {
		t.Run(fx.arch, func(t *testing.T) {
			c := load(t, fx.dir)
			if c.Arch != fx.arch {
				t.Fatalf("%s: arch %s, want %s", fx.dir, c.Arch, fx.arch)
			}
			e := newEnv(t)
			o := e.opts(c)
			o.Unverified = true
			o.WorkDir = filepath.Join(t.TempDir(), "w")
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("sandbox: %v", err)
			}
			if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=unverified"; got != want {
				t.Errorf("sandbox: %s, want %s", got, want)
			}
			if rep.Seeds["hex0-seed"] != c.Steps[0].Outputs["bin/hex0"] || rep.Seeds["kaem-optional-seed"] != c.Steps[1].Outputs["bin/kaem"] {
				t.Errorf("seeds %v: the first two steps must rebuild them (%s, %s)", rep.Seeds, c.Steps[0].Outputs["bin/hex0"], c.Steps[1].Outputs["bin/kaem"])
			}
			for _, p := range []string{"out/hello.txt", "bin/hello.txt"} {
				if b, err := os.ReadFile(filepath.Join(o.WorkDir, p)); err != nil || string(b) != "hello from bootchain\n" {
					t.Errorf("%s = %q, %v", p, b, err)
				}
			}
			for _, st := range rep.Steps {
				for _, r := range st.Outputs {
					if d := c.Steps[c.StepIndex(st.Name)].Derive; r.Derived != d {
						t.Errorf("step %s: %s: derived %v, want %v", st.Name, r.Path, r.Derived, d)
					}
				}
			}

			d, err := Derive(context.Background(), DeriveOptions{Chain: c, CacheDir: e.cache, WorkDir: o.WorkDir})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Derived) != 5 || len(d.Underived) != 0 || !d.Report.OK {
				t.Errorf("derive: %d derived, %d not, ok %v, want 5, 0, true", len(d.Derived), len(d.Underived), d.Report.OK)
			}
			for _, x := range d.Derived {
				if !x.OK() || len(x.Given) != 0 || !x.Compared {
					t.Errorf("derive: %+v, want equal to the pin and the run's file, from the sources alone", x)
				}
			}

			needQEMU(t)
			qe := newEnv(t)
			qo := qe.qemuOpts(c)
			qo.Unverified = true
			got, err := Run(context.Background(), qo)
			if err != nil {
				t.Fatalf("qemu: %v", err)
			}
			if g, w := outputHashes(got), outputHashes(rep); !reflect.DeepEqual(g, w) {
				t.Errorf("qemu outputs differ from the sandbox's:\nqemu:\n%s\nsandbox:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		})
	}
}

// TestQEMUGuestHelpersFollowArch: the helpers a guest assembles for itself
// (catm always, enter for a step with a dir or an env) are built for the
// chain's architecture, so the amd64 fixture's guest holds no i386 program
// and runs on a kernel without IA-32 emulation.
func TestQEMUGuestHelpersFollowArch(t *testing.T) {
	for _, fx := range fixtureArches {
		t.Run(fx.arch, func(t *testing.T) {
			c := load(t, fx.dir)
			e := newEnv(t)
			o := e.opts(c)
			o.Unverified = true
			g, err := QEMUGuest(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if g.Arch != fx.arch || g.Script != "kaem."+fx.arch {
				t.Errorf("guest arch %q, script %q; want %s, kaem.%s", g.Arch, g.Script, fx.arch, fx.arch)
			}
			ents, err := g.Entries()
			if err != nil {
				t.Fatal(err)
			}
			wantClass, wantMachine := byte(1), byte(3) // ELFCLASS32, EM_386
			if fx.arch == "amd64" {
				wantClass, wantMachine = 2, 0x3E // ELFCLASS64, EM_X86_64
			}
			n := 0
			for _, ent := range ents {
				f, ok := ent.(initramfs.File)
				if !ok || !strings.HasPrefix(f.Path, "bootchain/") || !strings.HasSuffix(f.Path, ".hex0") {
					continue
				}
				bin, err := hex0.Assemble(bytes.NewReader(f.Data))
				if err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				n++
				if len(bin) < 20 || bin[4] != wantClass || bin[18] != wantMachine {
					t.Errorf("%s assembles to ELF class %d machine %#x, want %d %#x", f.Path, bin[4], bin[18], wantClass, wantMachine)
				}
			}
			if n != 2 { // catm and enter (step hello has a dir and an env)
				t.Errorf("%d helper sources in the guest, want catm and enter", n)
			}
		})
	}
}
