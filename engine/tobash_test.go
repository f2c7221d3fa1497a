package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// toBashFlips names, for each upstream source of steps bzip2 to bash, the
// step that reads it and a file to change one byte of.
var toBashFlips = []struct{ source, step, flip string }{
	{"bzip2", "bzip2", "bzip2.c"},
	{"live-bootstrap-bzip2", "bzip2", "sysa/bzip2-1.0.8/patches/mes-libc.patch"},
	{"coreutils", "coreutils", "src/sort.c"},
	{"live-bootstrap-coreutils", "coreutils", "sysa/coreutils-5.0/mk/main.mk"},
	{"heirloom-devtools", "heirloom-devtools", "yacc/y1.c"},
	{"live-bootstrap-heirloom-devtools", "heirloom-devtools", "sysa/heirloom-devtools-070527/patches/lex_remove_wchar.patch"},
	{"bash", "bash", "execute_cmd.c"},
	{"live-bootstrap-bash", "bash", "sysa/bash-2.05b/patches/tinycc.patch"},
}

// toBashSources names, for every source the x86 chain's verified steps
// read up to bash, the file or directory under BOOTCHAIN_UPSTREAM that
// supplies it (the names the facts file and BOOTSTRAP.md use).
var toBashSources = map[string]string{
	"stage0-posix":                     "stage0-posix-1.9.1",
	"mes":                              "mes_0.24.2.orig.tar.gz",
	"nyacc":                            "nyacc-1.00.2.tar.gz",
	"tcc-0.9.26":                       "tcc-0.9.26-1136-g5bba73cc.tar.gz",
	"tcc-0.9.27":                       "tcc-0.9.27",
	"live-bootstrap":                   "live-bootstrap-aae7c4a6",
	"make":                             "make-3.82",
	"patch":                            "patch-2.5.9",
	"gzip":                             "gzip-1.2.4",
	"tar":                              "tar-1.12",
	"tar-lib":                          "coreutils-9874f0ee",
	"sed":                              "sed-4.1.5",
	"live-bootstrap-tools":             "live-bootstrap-aae7c4a6",
	"bzip2":                            "bzip2_1.0.8.orig.tar.gz",
	"coreutils":                        "coreutils-5.0",
	"heirloom-devtools":                "heirloom-devtools-070527",
	"bash":                             "bash-2.05b",
	"live-bootstrap-bzip2":             "live-bootstrap-aae7c4a6",
	"live-bootstrap-coreutils":         "live-bootstrap-aae7c4a6",
	"live-bootstrap-heirloom-devtools": "live-bootstrap-aae7c4a6",
	"live-bootstrap-bash":              "live-bootstrap-aae7c4a6",
}

// TestX86ToBashUpstream runs the embedded x86 chain on real upstream
// sources through step bash, every step verified, and checks what the
// last four steps' checks wrote and that /usr/bin/bash is the file
// live-bootstrap publishes; then, for each source of those four steps,
// runs again with one byte of it changed: the run must stop at the step
// that reads the source, before it runs, naming the file with the
// expected and the actual SHA-256. Set BOOTCHAIN_UPSTREAM to a directory holding
// the sources under the names in toBashSources. From empty caches the
// run takes about 45 minutes on two cores (MesCC's C library and tcc.c);
// BOOTCHAIN_X86_CACHE, a cache an earlier run filled (e.g.
// ~/.cache/bootchain), makes the steps it holds come from there, and the
// run writes the steps it runs into it.
func TestX86ToBashUpstream(t *testing.T) {
	up := os.Getenv("BOOTCHAIN_UPSTREAM")
	if up == "" {
		t.Skip("set BOOTCHAIN_UPSTREAM to a directory of the x86 chain's upstream sources to run the chain to bash (see the test's comment)")
	}
	needSandbox(t)
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	o := e.opts(c)
	if cache := os.Getenv("BOOTCHAIN_X86_CACHE"); cache != "" {
		o.CacheDir = cache
	}
	o.Sources = map[string]string{}
	last := c.StepIndex("bash")
	if last < 0 {
		t.Fatal("chain x86 has no step bash")
	}
	for _, st := range c.Steps[:last+1] {
		for _, u := range st.Uses {
			if src, _ := c.Source(u); src.Local != nil {
				continue // shipped with the chain
			}
			name, ok := toBashSources[u]
			if !ok {
				t.Fatalf("step %s uses source %s, which toBashSources does not name", st.Name, u)
			}
			p := filepath.Join(up, name)
			if _, err := os.Stat(p); err != nil {
				t.Skipf("source %s: %v", u, err)
			}
			o.Sources[u] = p
		}
	}
	o.Until = "bash"
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range rep.Steps {
		if i <= last && st.Status != verify.StatusOK {
			t.Errorf("step %s: %s, want ok", st.Name, st.Status)
		}
	}
	for file, want := range map[string]string{
		"bash-check/result":     "function: sum_to 10 = 55\npipe: a b c \nsubstitution: bash 2.05b\nhere-document: 42 from bash 2.05b\n",
		"yacc-lex-check/result": "1: 3\n2: 14\n3: 20\n4: -4\n6: 3\n7: 6\n",
	} {
		b, err := os.ReadFile(filepath.Join(o.WorkDir, file))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", file, b, err, want)
		}
	}
	got, err := verify.File(filepath.Join(o.WorkDir, "usr", "bin", "bash"))
	if err != nil || got != "a11ab8528cd79c67a0514ce2581ee81f50398cea1b4c616a22c488c0cc2d619e" {
		t.Errorf("usr/bin/bash: %s, %v; want live-bootstrap's a11ab852...", got, err)
	}
	if len(rep.Steps) != len(c.Steps) {
		t.Errorf("report lists %d steps, want %d", len(rep.Steps), len(c.Steps))
	}

	for _, f := range toBashFlips {
		t.Run(f.source, func(t *testing.T) {
			src, _ := c.Source(f.source)
			want, ok := src.Files[f.flip]
			if !ok {
				t.Fatalf("source %s pins no %s", f.source, f.flip)
			}
			// The pinned files, from whatever form was given, one changed.
			tree, err := source.Open(context.Background(), *src, o.Sources[f.source], t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			changed, actual := flippedCopy(t, src.Files, tree.Path, f.flip)
			o2 := o
			o2.Sources = map[string]string{}
			for k, v := range o.Sources {
				o2.Sources[k] = v
			}
			o2.Sources[f.source] = changed
			o2.WorkDir = ""
			runStopsAt(t, c, o2, f.step, f.source, f.flip, want, actual)
		})
	}
}
