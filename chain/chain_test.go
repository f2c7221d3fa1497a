package chain

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bootchain/bootchain/hex0"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const (
	h1 = "1111111111111111111111111111111111111111111111111111111111111111"
	h2 = "2222222222222222222222222222222222222222222222222222222222222222"
	h3 = "3333333333333333333333333333333333333333333333333333333333333333"
)

// good is a small valid chain; cases below break it one way at a time.
const good = `# a comment
chain t
describe a test chain
arch x86
seed hex0-seed seeds/hex0-seed
seed kaem-optional-seed seeds/kaem   # trailing comment

source up
    version 1.0
    url https://example.org/up-1.0.tar.gz
    url http://mirror.example.org/up-1.0.tar.gz
    archive-sha256 ` + h1 + `
    strip 1
    files up.sha256

step one
    describe first
    run seeds/hex0-seed a.hex0 out/one
    uses up
    outputs one.sha256
    timeout 2m

step two
    run ./one x
    dir /out
    env A=1
    env B=two=2
    outputs two.sha256
    derive
    strict

section unverified

step three
    run /out/one
    outputs three.sha256
`

func files(chainText string) fstest.MapFS {
	return fstest.MapFS{
		"chain":        {Data: []byte(chainText)},
		"up.sha256":    {Data: []byte(h1 + "  a.hex0\n" + h2 + " *dir/b\n")},
		"one.sha256":   {Data: []byte(h2 + "  out/one\n")},
		"two.sha256":   {Data: []byte(h3 + "  out/two\n")},
		"three.sha256": {Data: []byte(h3 + "  out/three\n")},
	}
}

func TestParseGood(t *testing.T) {
	c, err := Parse("t", files(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "t" || c.Arch != "x86" || c.Describe != "a test chain" || c.File != "chain/t/chain" {
		t.Errorf("header: %+v", c)
	}
	if len(c.Seeds) != 2 || c.Seeds[1] != (Seed{Name: "kaem-optional-seed", Path: "seeds/kaem"}) {
		t.Errorf("seeds: %+v", c.Seeds)
	}
	src, ok := c.Source("up")
	if !ok || src.Version != "1.0" || len(src.URLs) != 2 || src.ArchiveSHA256 != h1 || src.Strip != 1 ||
		src.Files["a.hex0"] != h1 || src.Files["dir/b"] != h2 || src.Local != nil {
		t.Errorf("source: %+v", src)
	}
	if src.At != "" || src.RootPath("dir/b") != "dir/b" {
		t.Errorf("source without at: At %q, RootPath %q", src.At, src.RootPath("dir/b"))
	}
	if len(c.Steps) != 3 {
		t.Fatalf("steps: %d", len(c.Steps))
	}
	one, two, three := c.Steps[0], c.Steps[1], c.Steps[2]
	if one.Dir != "/" || one.Timeout != 2*time.Minute || one.Uses[0] != "up" || one.Outputs["out/one"] != h2 || one.Unverified || one.Line != 16 {
		t.Errorf("step one: %+v", one)
	}
	if two.Dir != "/out" || strings.Join(two.Env, " ") != "A=1 B=two=2" || !two.Derive || !two.Strict || two.Timeout != DefaultTimeout || two.Unverified {
		t.Errorf("step two: %+v", two)
	}
	if !three.Unverified {
		t.Errorf("step three should be unverified")
	}
	if c.StepIndex("two") != 1 || c.StepIndex("nope") != -1 {
		t.Errorf("StepIndex")
	}
}

// TestParseAt checks that `at` moves a source's files in the root while
// its pins keep the paths inside the source.
func TestParseAt(t *testing.T) {
	c, err := Parse("t", files(strings.Replace(good, "    strip 1\n", "    strip 1\n    at ./src/up-1.0/\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	src, _ := c.Source("up")
	if src.At != "src/up-1.0" || src.Files["dir/b"] != h2 || src.RootPath("dir/b") != "src/up-1.0/dir/b" {
		t.Errorf("at: At %q, pins %v, RootPath %q", src.At, src.Files, src.RootPath("dir/b"))
	}
}

// TestParseSizes checks that a sizes list and archive-size give every
// pinned file its size, and that every source the verified steps of the
// embedded chains use has them.
func TestParseSizes(t *testing.T) {
	fsys := files(strings.Replace(good, "    files up.sha256\n", "    files up.sha256\n    sizes up.sizes\n    archive-size 4096\n", 1))
	fsys["up.sizes"] = &fstest.MapFile{Data: []byte("12  a.hex0\n0  dir/b\n")}
	c, err := Parse("t", fsys)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := c.Source("up")
	if src.Sizes["a.hex0"] != 12 || src.Sizes["dir/b"] != 0 || len(src.Sizes) != 2 || src.ArchiveSize != 4096 || src.SizesList != "up.sizes" {
		t.Errorf("sizes %v, archive size %d", src.Sizes, src.ArchiveSize)
	}
	for _, name := range Embedded() {
		c, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range c.Steps {
			if st.Unverified {
				continue
			}
			for _, u := range st.Uses {
				s, _ := c.Source(u)
				if len(s.Sizes) != len(s.Files) {
					t.Errorf("%s source %s: %d of %d pinned files have a pinned size", name, s.Name, len(s.Sizes), len(s.Files))
				}
			}
		}
	}
}

// TestParseErrors checks that every error names the file and line, what
// was expected and what was found.
func TestParseErrors(t *testing.T) {
	type tc struct {
		name    string
		edit    func(string) string
		fsEdit  func(fstest.MapFS)
		line    int
		wantSub string
	}
	repl := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				panic("test case: " + old + " not in chain")
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	cases := []tc{
		{"unknown directive", repl("describe a test chain", "descrbe a test chain"), nil, 3, `expected a directive (chain, describe, arch, seed, seed-source, source, step, default-until, section), found "descrbe"`},
		{"chain not first", repl("chain t\n", ""), nil, 2, "expected `chain t` as the first directive, found \"describe\""},
		{"chain name differs", repl("chain t\n", "chain u\n"), nil, 2, "expected `chain t`, found \"chain u\""},
		{"no chain", func(string) string { return "# nothing\n" }, nil, 2, "expected `chain t`, found end of file"},
		{"second chain", repl("arch x86\n", "arch x86\nchain t\n"), nil, 5, "expected one `chain` directive, found a second"},
		{"bad arch", repl("arch x86", "arch arm"), nil, 4, `expected ` + "`arch`" + ` followed by one of x86, amd64, found "arm"`},
		{"no arch", repl("arch x86\n", ""), nil, 36, "expected an `arch` directive"},
		{"unknown seed", repl("seed hex0-seed", "seed hex1-seed"), nil, 5, `expected a seed name (one of hex0-seed, kaem-optional-seed), found "hex1-seed"`},
		{"seed twice", repl("seed kaem-optional-seed seeds/kaem", "seed hex0-seed seeds/other"), nil, 6, "expected each seed once, found seed hex0-seed again"},
		{"seed path escapes", repl("seeds/hex0-seed\n", "../hex0-seed\n"), nil, 5, `expected seed path: a file path inside the root without .., found "../hex0-seed"`},
		{"seed path shared", repl("seeds/kaem ", "seeds/hex0-seed "), nil, 6, "expected a path not used by another seed, found seeds/hex0-seed again"},
		{"seed-source undeclared", repl("source up\n", "seed-source kaem seeds/k.hex0\nsource up\n"), nil, 8, `expected a seed declared above with ` + "`seed kaem PATH`" + `, found seed-source for undeclared seed "kaem"`},
		{"indented outside block", repl("arch x86\n", "arch x86\n    version 2\n"), nil, 5, `expected a top-level directive at the start of the line, found indented "version" outside a source or step block`},
		{"source twice", repl("step one\n", "source up\n    local .\n    files up.sha256\nstep one\n"), nil, 16, "expected each source once, found source up again"},
		{"source without url", repl("    url https://example.org/up-1.0.tar.gz\n    url http://mirror.example.org/up-1.0.tar.gz\n", ""), nil, 8, "source up: expected `url URL` or `local DIR`, found neither"},
		{"source without files", repl("    files up.sha256\n", ""), nil, 8, "source up: expected `files LIST.sha256` (per-file pins) or `place PATH` (the archive itself), found neither"},
		{"place and files", repl("    files up.sha256\n", "    files up.sha256\n    place distfiles/up.tar.gz\n"), nil, 15, "source up: expected place instead of files and strip, found it with them"},
		{"files after place", repl("    strip 1\n    files up.sha256\n", "    place distfiles/up.tar.gz\n    files up.sha256\n"), nil, 14, "source up: expected either place or files, found both"},
		{"strip after place", repl("    strip 1\n    files up.sha256\n", "    place distfiles/up.tar.gz\n    strip 1\n"), nil, 14, "source up: expected either place or strip, found both"},
		{"place without archive pin", repl("    archive-sha256 "+h1+"\n    strip 1\n    files up.sha256\n", "    place distfiles/up.tar.gz\n"), nil, 8, "source up: expected `archive-sha256 HASH` with place (the archive is the pinned file), found none"},
		{"place escapes", repl("    strip 1\n    files up.sha256\n", "    place ../up.tar.gz\n"), nil, 13, `expected an archive path inside the root: a file path inside the root without .., found "../up.tar.gz"`},
		{"bad url", repl("url https://example.org/up-1.0.tar.gz", "url ftp://example.org/x"), nil, 10, `source up: expected an http(s) URL, found "ftp://example.org/x"`},
		{"url and local", repl("    strip 1\n", "    strip 1\n    local src\n"), nil, 14, "source up: expected either url or local, found both"},
		{"local missing", repl("    url https://example.org/up-1.0.tar.gz\n    url http://mirror.example.org/up-1.0.tar.gz\n", "    local src\n"), nil, 10, "source up: expected directory chain/t/src, found none"},
		{"bad archive hash", repl("archive-sha256 "+h1, "archive-sha256 abc"), nil, 12, `source up: expected 64 lower-case hex digits after archive-sha256, found "abc"`},
		{"bad strip", repl("strip 1", "strip -1"), nil, 13, `source up: expected a number of path components (0-16) after strip, found "-1"`},
		{"unknown source directive", repl("    strip 1\n", "    strip 1\n    branch main\n"), nil, 14, `source up: expected a source directive (version, url, archive-sha256, archive-size, strip, files, sizes, local, place, at), found "branch"`},
		{"at twice", repl("    strip 1\n", "    strip 1\n    at up\n    at down\n"), nil, 15, "source up: expected one at, found a second (down)"},
		{"at escapes", repl("    strip 1\n", "    strip 1\n    at ../up\n"), nil, 14, `expected a directory inside the root: a file path inside the root without .., found "../up"`},
		{"at with place", repl("    strip 1\n    files up.sha256\n", "    place distfiles/up.tar.gz\n    at up\n"), nil, 8, "source up: expected at with files (place already says where the archive goes), found it with place"},
		{"missing hash list", repl("files up.sha256", "files nope.sha256"), nil, 14, "expected hash list chain/t/nope.sha256, found none (file does not exist)"},
		{"malformed hash line", nil, func(m fstest.MapFS) { m["up.sha256"] = &fstest.MapFile{Data: []byte(h1 + "  a.hex0\nxyz  b\n")} }, 0, `chain/t/up.sha256 line 2: expected "<64 hex>  <path>", found "xyz  b"`},
		{"hash list path escapes", nil, func(m fstest.MapFS) { m["up.sha256"] = &fstest.MapFile{Data: []byte(h1 + "  ../a\n")} }, 0, `chain/t/up.sha256 line 1: expected "<64 hex>  <path>" with a clean relative path, found`},
		{"hash list duplicate", nil, func(m fstest.MapFS) {
			m["one.sha256"] = &fstest.MapFile{Data: []byte(h1 + "  out/one\n" + h2 + "  out/one\n")}
		}, 0, "chain/t/one.sha256 line 2: expected each path once, found out/one again"},
		{"empty hash list", nil, func(m fstest.MapFS) { m["one.sha256"] = &fstest.MapFile{Data: nil} }, 20, "expected pinned files in hash list chain/t/one.sha256, found an empty list"},
		{"duplicate step", repl("step two", "step one"), nil, 23, "expected each step once, found step one again"},
		{"bad step name", repl("step two", "step two/x"), nil, 23, "expected `step NAME` (letters, digits, . _ + -), found \"step two/x\""},
		{"unknown source in uses", repl("uses up", "uses down"), nil, 19, `step one: expected a source declared above, found unknown source "down"`},
		{"unknown step directive", repl("    derive\n", "    derived\n"), nil, 29, `step two: expected a step directive (describe, run, dir, env, uses, outputs, derive, strict, timeout, pending), found "derived"`},
		{"no run", repl("    run seeds/hex0-seed a.hex0 out/one\n", ""), nil, 16, "step one: expected `run PROGRAM ARGS...` (or, after `section unverified`, `pending WHY`), found none"},
		{"pending in the verified part", repl("    run seeds/hex0-seed a.hex0 out/one\n", "    pending later\n"), nil, 18, "step one: expected pending only after `section unverified` (a verified step needs its commands), found it in the verified part"},
		{"pending and run", repl("    run /out/one\n", "    run /out/one\n    pending later\n"), nil, 34, "step three: expected either run or pending, found both"},
		{"pending empty", repl("    run /out/one\n", "    pending\n"), nil, 35, "step three: expected why the step is pending after pending, found nothing"},
		{"two runs", repl("    uses up\n", "    uses up\n    run seeds/kaem\n"), nil, 20, "step one: expected one run line, found a second"},
		{"no outputs", repl("    outputs one.sha256\n", ""), nil, 16, "step one: expected `outputs LIST.sha256` with at least one pinned file (only a step after `section unverified` may have none), found none"},
		{"unpinned and strict", repl("    outputs three.sha256\n", "    strict\n"), nil, 34, "step three: expected `outputs LIST.sha256` with strict (strict refuses files the pins do not name), found none"},
		{"unknown program after a pinned unverified step", repl("    outputs three.sha256\n", "    outputs three.sha256\nstep four\n    run /out/four\n"), nil, 37, "step four: expected the program /out/four (from dir /) to be a seed or an output of an earlier step, found neither"},
		{"program not a seed or output", repl("run ./one x", "run ./two x"), nil, 23, "step two: expected the program ./two (from dir /out) to be a seed or an output of an earlier step, found neither"},
		{"program is a later output", repl("run seeds/hex0-seed a.hex0 out/one", "run out/one"), nil, 16, "step one: expected the program out/one (from dir /) to be a seed or an output of an earlier step, found neither"},
		{"bad env", repl("env A=1", "env 1A=1"), nil, 26, "step two: expected `env NAME=VALUE` (no blanks), found \"1A=1\""},
		{"bad timeout", repl("timeout 2m", "timeout soon"), nil, 21, `step two: expected a positive duration after timeout (e.g. 10m), found "soon"`[len("step two: "):]},
		{"output is a seed", nil, func(m fstest.MapFS) { m["two.sha256"] = &fstest.MapFile{Data: []byte(h3 + "  seeds/kaem\n")} }, 28, "step two: expected outputs apart from the seeds, found seed path seeds/kaem in two.sha256"},
		{"output twice in a step", repl("outputs two.sha256", "outputs two.sha256 two.sha256"), nil, 28, "step two: expected each output once, found out/two again in two.sha256"},
		{"default-until unknown step", repl("section unverified\n", "default-until nine\nsection unverified\n"), nil, 32, "expected `default-until` to name a verified step, found \"nine\""},
		{"default-until unverified step", repl("section unverified\n", "default-until three\nsection unverified\n"), nil, 32, "expected `default-until` to name a verified step, found \"three\""},
		{"default-until twice", repl("section unverified\n", "default-until one\ndefault-until two\nsection unverified\n"), nil, 33, "expected one `default-until STEP`, found \"default-until two\""},
		{"section twice", repl("section unverified\n", "section unverified\nsection unverified\n"), nil, 33, "expected one `section unverified`, found a second"},
		{"bad section", repl("section unverified", "section later"), nil, 32, "expected `section unverified`, found \"section later\""},
		{"control character", repl("describe first", "describe fi\x01rst"), nil, 17, `expected text, found control or invalid character '\x01'`},
		{"invalid utf-8", repl("describe first", "describe fi\xffrst"), nil, 17, `expected text, found control or invalid character '�'`},
		{"sizes list missing", repl("    files up.sha256\n", "    files up.sha256\n    sizes up.sizes\n"), nil, 15, "expected size list chain/t/up.sizes, found none"},
		{"size missing for a pinned file", repl("    files up.sha256\n", "    files up.sha256\n    sizes up.sizes\n"),
			func(f fstest.MapFS) { f["up.sizes"] = &fstest.MapFile{Data: []byte("12  a.hex0\n")} }, 8, "expected a size for every pinned file in chain/t/up.sizes, found none for dir/b"},
		{"size for an unpinned file", repl("    files up.sha256\n", "    files up.sha256\n    sizes up.sizes\n"),
			func(f fstest.MapFS) { f["up.sizes"] = &fstest.MapFile{Data: []byte("12  a.hex0\n3  dir/b\n4  c\n")} }, 8, "expected in chain/t/up.sizes only files up.sha256 pins, found c"},
		{"bad size line", repl("    files up.sha256\n", "    files up.sha256\n    sizes up.sizes\n"),
			func(f fstest.MapFS) { f["up.sizes"] = &fstest.MapFile{Data: []byte("12  a.hex0\n-3  dir/b\n")} }, 0, `chain/t/up.sizes line 2: expected "<size in bytes>  <clean relative path>", found "-3  dir/b"`},
		{"bad archive-size", repl("    strip 1\n", "    strip 1\n    archive-size 1k\n"), nil, 14, `expected a size in bytes after archive-size, found "1k"`},
		{"no steps", func(s string) string { return s[:strings.Index(s, "step one")] }, nil, 16, "expected at least one `step`, found end of file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := good
			if c.edit != nil {
				text = c.edit(text)
			}
			fsys := files(text)
			if c.fsEdit != nil {
				c.fsEdit(fsys)
			}
			_, err := Parse("t", fsys)
			if err == nil {
				t.Fatalf("no error, want %q", c.wantSub)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.wantSub) {
				t.Errorf("error %q\ndoes not contain %q", msg, c.wantSub)
			}
			if !strings.Contains(msg, "expected") || !strings.Contains(msg, "found") {
				t.Errorf("error %q does not say what was expected and found", msg)
			}
			if c.line > 0 {
				if want := "chain/t/chain line " + itoa(c.line) + ": "; !strings.HasPrefix(msg, want) {
					t.Errorf("error %q does not start with %q", msg, want)
				}
			} else if !strings.HasPrefix(msg, "chain/t/") {
				t.Errorf("error %q does not name the file", msg)
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestParseHashList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{h1 + "  a\n" + h2 + " *b/c\n", map[string]string{"a": h1, "b/c": h2}, ""},
		{h1 + "  a", map[string]string{"a": h1}, ""},
		{"", map[string]string{}, ""},
		{strings.Repeat("A", 64) + "  a\n", nil, "line 1:"},
		{h1 + " a\n", nil, "line 1:"},
		{h1 + "  ./a\n", nil, "clean relative path"},
		{h1 + "  /a\n", nil, "clean relative path"},
		{h1 + "  a/../b\n", nil, "clean relative path"},
		{h1 + "  a\n\n", nil, "line 2:"},
		{"# comment\n", nil, "line 1:"},
	} {
		got, err := ParseHashList([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseHashList(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHashList(%q): %v", c.in, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("ParseHashList(%q) = %v, want %v", c.in, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("ParseHashList(%q)[%s] = %s, want %s", c.in, k, got[k], v)
			}
		}
	}
}

func TestDigest(t *testing.T) {
	c, err := Parse("t", files(good))
	if err != nil {
		t.Fatal(err)
	}
	// sha256 of the three pins, sorted by path, as sha256sum prints them:
	// printf '%s  out/one\n%s  out/three\n%s  out/two\n' $h2 $h3 $h3 | sha256sum
	const want = "5bd5918d7b58385994f7cfc9346d4c674c7a71dbc21b9d860f9ef629abcf5ac6"
	got := c.Digest()
	if len(got) != 64 {
		t.Fatalf("Digest() = %q", got)
	}
	// The digest depends on the pins only: a description does not change it,
	// a pin does.
	c2, err := Parse("t", files(strings.Replace(good, "describe first", "describe other", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Digest() != got {
		t.Errorf("digest changed with a description")
	}
	fsys := files(good)
	fsys["two.sha256"] = &fstest.MapFile{Data: []byte(h1 + "  out/two\n")}
	c3, err := Parse("t", fsys)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Digest() == got {
		t.Errorf("digest did not change with a pin")
	}
	if got != want {
		t.Errorf("Digest() = %s, want %s", got, want)
	}
}

func TestFinalPins(t *testing.T) {
	fsys := files(good)
	fsys["two.sha256"] = &fstest.MapFile{Data: []byte(h3 + "  out/one\n")} // step two rewrites out/one
	c, err := Parse("t", fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FinalPins("one"); len(got) != 1 || got["out/one"] != h2 {
		t.Errorf("FinalPins(one) = %v", got)
	}
	if got := c.FinalPins(""); got["out/one"] != h3 || got["out/three"] != h3 || len(got) != 2 {
		t.Errorf("FinalPins() = %v", got)
	}
	if n := len(c.Pins()); n != 3 {
		t.Errorf("Pins() has %d entries, want 3 (both pins of out/one)", n)
	}
}

func TestLoad(t *testing.T) {
	if got := strings.Join(Embedded(), " "); got != "amd64 x86" {
		t.Errorf("Embedded() = %v, want amd64 x86", got)
	}
	for _, arg := range []string{"x86", "amd64", "../testdata/chains/fixture", "../testdata/chains/fixture-tampered"} {
		c, err := Load(arg)
		if err != nil {
			t.Errorf("Load(%s): %v", arg, err)
			continue
		}
		if filepath.Base(arg) != c.Name { // these directories are named as their chains
			t.Errorf("Load(%s).Name = %s", arg, c.Name)
		}
	}
	if _, err := Load("nope"); err == nil || !strings.Contains(err.Error(), `chain "nope": expected one of amd64, x86`) {
		t.Errorf("Load(nope) = %v", err)
	}
	if _, err := Load("./no/such/dir"); err == nil {
		t.Errorf("Load of a missing directory succeeded")
	}
	if _, err := Load("../testdata/chains/fixture/chain"); err == nil || !strings.Contains(err.Error(), "expected a directory") {
		t.Errorf("Load of a file = %v", err)
	}
}

// TestFixturePinsFollowSeeds: the fixture's first two steps rebuild the
// seeds, so their pins are the seeds' pins. A seed change must update them.
func TestFixturePinsFollowSeeds(t *testing.T) {
	pins, err := hex0.Pins("x86")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"fixture", "fixture-tampered"} {
		c, err := Load("../testdata/chains/" + dir)
		if err != nil {
			t.Fatal(err)
		}
		for step, out := range map[string]string{"hex0": "bin/hex0", "kaem": "bin/kaem"} {
			seed := map[string]string{"hex0": hex0.HexSeed, "kaem": hex0.KaemSeed}[step]
			if got := c.Steps[c.StepIndex(step)].Outputs[out]; got != pins[seed] {
				t.Errorf("testdata/chains/%s/%s.sha256 pins %s to %s, but hex0/x86/SHA256SUMS pins %s to %s: update the fixture", dir, step, out, got, seed, pins[seed])
			}
		}
	}
}

// TestX86Answers: the x86 chain pins upstream's 19 checked programs with
// upstream's values (stage0-posix 1.9.1, x86.answers).
func TestX86Answers(t *testing.T) {
	c, err := Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]string{
		"x86/bin/blood-elf":     "b93feaca9bddea7c8f3d27a7482f0f7e570026ec2e152bbaa24686f361b9eacb",
		"x86/bin/catm":          "2d78a820d9bb59d98a4acd05c8ce8d964b9c1bc48c75d258c27c1b40c37812a0",
		"x86/bin/chmod":         "d6a770e195b2270b8c9053991f69e37b23d155ee96e421bf8925bc2a5cc1f583",
		"x86/bin/cp":            "90d686b885e4ae19fc02cbc72965f65f629f675f29ae3438ce575db816435dc0",
		"x86/bin/get_machine":   "5d56d70d8f0461f5a35b8ee8c6b6c2e69408b96d07419b64d579ee71838f87a0",
		"x86/bin/hex2":          "6fdeeaa3e4d3146ae88de1b0c90fa026969385128be857e00bb670f8e06e25b9",
		"x86/bin/kaem":          "16088406244f445075d67f87260732279273171f06bcd5e1189ac93fd78ffe5c",
		"x86/bin/M1":            "52384058b2d98800641f9fb024effd365fbfe1dffcfee4af61fc8ed9511970ae",
		"x86/bin/M2-Mesoplanet": "b22f8854fba7fdeb115854c32a2b515354dd78c59170a7c2a7ced10dda58f6d3",
		"x86/bin/M2-Planet":     "f42672922b50bff89b9ab842bb63a288c746f1d5ece98c015192c9b581b00091",
		"x86/bin/match":         "7a1a5c4c57f3b7ac7f9771412e72e3985c395aa1eed194a5c3a75c574b964a70",
		"x86/bin/mkdir":         "f7a77caae8673b9013ce15f590ccd3030c3b4bcd27a6ce705d196e379cdbc530",
		"x86/bin/replace":       "68376f384dcc0463fd202a224424a0c8db4d81c2082a1f3f68e67505704984b1",
		"x86/bin/rm":            "abf00777b3e3268cfb342d2418719265002c5ef3557c3cbfd488b78560c2679f",
		"x86/bin/sha256sum":     "6853fea40a41d77d2ccf40e6fa8b3e78c834705ab6c39ad158d45e190d970768",
		"x86/bin/ungz":          "a4dd35e9ce1595a7ec9cfe81728e10afcca800795324d251c9365b0e7ee81b37",
		"x86/bin/unbz2":         "d332d96d200d7752f551b5b45777ab8dfd0cfb6c1cadb14a19405a3823d2833e",
		"x86/bin/unxz":          "1cf1d3ea82b5c3586d5f4fd13bcade9d292ffda0ed1d38b50857533564520b26",
		"x86/bin/untar":         "b0247a00159f966845494158d5efbafc7de06a960bbd859d8dd79bd7947d7422",
	}
	final := c.FinalPins("")
	for p, want := range answers {
		if final[p] != want {
			t.Errorf("chain x86 pins %s to %q, upstream's x86.answers to %s", p, final[p], want)
		}
	}
	src, _ := c.Source("stage0-posix")
	if src.Files["x86.answers"] == "" || src.Files["x86/kaem.run"] == "" {
		t.Errorf("the x86 chain must take upstream's scripts from the pinned source")
	}
}

func TestPlanGolden(t *testing.T) {
	c, err := Load("../testdata/chains/fixture")
	if err != nil {
		t.Fatal(err)
	}
	st := PlanState{
		Seeds:       map[string]string{"hex0-seed": h1, "kaem-optional-seed": h2},
		SeedSources: map[string]string{"hex0-seed": h3},
	}
	for i := range c.Steps {
		cache := "not cached"
		if i < 2 {
			cache = "cached"
		}
		ss := StepState{Key: strings.Repeat(string(rune('a'+i)), 64), Cache: cache}
		if c.Steps[i].Derive { // the Go twins re-derive every output, from the pinned sources alone
			ss.Derived = map[string][]string{}
			for p := range c.Steps[i].Outputs {
				ss.Derived[p] = nil
			}
		}
		st.Steps = append(st.Steps, ss)
	}
	var buf bytes.Buffer
	if err := c.WritePlan(&buf, st); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plan-fixture.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("plan rendering differs from %s (go test -update rewrites it):\n%s", golden, buf.String())
	}
}

// TestParseUnpinnedRoad: after `section unverified` a step may have no
// pinned outputs, and a later step may run a program such a step made.
func TestParseUnpinnedRoad(t *testing.T) {
	road := strings.Replace(good, "    outputs three.sha256\n", "step four\n    run /out/made-by-three\n", 1)
	c, err := Parse("t", files(road))
	if err != nil {
		t.Fatal(err)
	}
	i := c.StepIndex("three")
	if i < 0 || c.Steps[i].Pinned() || !c.Steps[i].Unverified {
		t.Fatalf("step three: %+v, want unverified and not pinned", c.Steps[i])
	}
	if j := c.StepIndex("four"); j < 0 || !c.Steps[j].Unverified {
		t.Errorf("step four: want it parsed as unverified")
	}
	pend := strings.Replace(road, "    run /out/made-by-three\n", "    pending its commands are not written yet\n", 1)
	c2, err := Parse("t", files(pend))
	if err != nil {
		t.Fatal(err)
	}
	if j := c2.StepIndex("four"); c2.Steps[j].Pending != "its commands are not written yet" || len(c2.Steps[j].Argv) != 0 {
		t.Errorf("pending step four: %+v", c2.Steps[j])
	}
	if !c.Steps[c.StepIndex("one")].Pinned() {
		t.Errorf("step one: Pinned() = false, want true")
	}
}
