package initramfs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// sample is a small root: a seed, a script, a nested output directory that
// is only implied, and the device nodes.
func sample(t *testing.T) []Entry {
	t.Helper()
	host := filepath.Join(t.TempDir(), "big.hex0")
	if err := os.WriteFile(host, []byte("# host file\n7F 45 4C 46\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := []Entry{
		File{Path: "/kaem.x86", Data: []byte("./seed ./x86/hex0.hex0 ./x86/artifact/hex0\n")},
		File{Path: "seed", Mode: 0o755, Data: []byte("\x7fELF not really")},
		File{Path: "x86/hex0.hex0", HostPath: host},
		Dir{Path: "x86/artifact", Mode: 0o700},
		File{Path: "empty"},
	}
	return append(e, DeviceNodes()...)
}

func archive(t *testing.T, entries []Entry, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, entries, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes()
}

func TestWriteIsByteIdentical(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			a := archive(t, sample(t), Options{Gzip: gz})
			// Reversed input order must not matter either.
			s := sample(t)
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
			b := archive(t, s, Options{Gzip: gz})
			if !bytes.Equal(a, b) {
				t.Fatalf("two writes of the same root differ (%d and %d bytes)", len(a), len(b))
			}
		})
	}
}

func TestGzipHeaderIsFixed(t *testing.T) {
	z := archive(t, sample(t), Options{Gzip: true})
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "" || r.Comment != "" || !r.ModTime.IsZero() || r.OS != 255 || r.Extra != nil {
		t.Errorf("gzip header = %+v, want no name, no comment, mtime 0, OS 255", r.Header)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := archive(t, sample(t), Options{}); !bytes.Equal(plain, want) {
		t.Errorf("gunzipped archive differs from the uncompressed one")
	}
}

// listing renders every record's metadata the way the kernel will see it.
func listing(t *testing.T, data []byte) string {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(data)))
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var b strings.Builder
	for _, r := range recs {
		sum := ""
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG {
			c, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err != nil {
				t.Fatal(err)
			}
			sum = fmt.Sprintf(" sha256=%x", sha256.Sum256(c))
		}
		fmt.Fprintf(&b, "ino=%d mode=%06o nlink=%d uid=%d gid=%d mtime=%d size=%d rdev=%d,%d %s%s\n",
			r.Ino, r.Mode, r.NLink, r.UID, r.GID, r.MTime, r.FileSize, r.Rmajor, r.Rminor, r.Name, sum)
	}
	return b.String()
}

func TestGoldenListing(t *testing.T) {
	data := archive(t, sample(t), Options{})
	got := listing(t, data) + fmt.Sprintf("archive sha256=%x size=%d\n", sha256.Sum256(data), len(data))
	golden := filepath.Join("testdata", "sample.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("listing differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestCpioListsDeviceNodes(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed (apt-get install cpio); skipping the check with GNU cpio")
	}
	data := archive(t, sample(t), Options{})
	cmd := exec.Command("cpio", "-itv", "--quiet")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	want := map[string]string{
		"dev/console": "5, +1",
		"dev/null":    "1, +3",
		"dev/ttyS0":   "4, +64",
		"dev/ttyS1":   "4, +65",
		"dev/ttyS2":   "4, +66",
		"dev/ttyS3":   "4, +67",
	}
	for name, dev := range want {
		re := regexp.MustCompile(`(?m)^c[-rw]{9} +1 +\S+ +\S+ +` + dev + ` .* ` + regexp.QuoteMeta(name) + `$`)
		if !re.Match(out) {
			t.Errorf("cpio -itv does not list %s as a character device %s; output:\n%s", name, dev, out)
		}
	}
	for _, name := range []string{"kaem.x86", "seed", "x86", "x86/hex0.hex0", "x86/artifact"} {
		if !regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(name) + `$`).Match(out) {
			t.Errorf("cpio -itv does not list %s; output:\n%s", name, out)
		}
	}
}

func TestCleanAndPlanRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string // substring of the error
	}{
		{"dotdot", []Entry{File{Path: "a/../../etc/passwd"}}, `".." component`},
		{"leading dotdot", []Entry{File{Path: "../x"}}, `".." component`},
		{"dot", []Entry{File{Path: "./x"}}, `"." component`},
		{"empty", []Entry{File{Path: ""}}, "empty or the root itself"},
		{"root", []Entry{Dir{Path: "/"}}, "empty or the root itself"},
		{"double slash absolute", []Entry{File{Path: "//etc/x"}}, "empty component"},
		{"repeated slash", []Entry{File{Path: "a//b"}}, "empty component"},
		{"trailing slash", []Entry{Dir{Path: "a/"}}, "empty component"},
		{"nul", []Entry{File{Path: "a\x00b"}}, "NUL"},
		{"duplicate", []Entry{File{Path: "a"}, File{Path: "a"}}, "listed twice"},
		{"duplicate after cleaning", []Entry{File{Path: "/a/b"}, Dir{Path: "a/b"}}, "listed twice"},
		{"parent is a file", []Entry{File{Path: "a"}, File{Path: "a/b"}}, "parent a is a file"},
		{"parent is a device", []Entry{CharDev{Path: "d", Major: 1, Minor: 3}, File{Path: "d/x"}}, "parent d is a character device"},
		{"nil", []Entry{nil}, "nil entry"},
		{"both data and host path", []Entry{File{Path: "a", Data: []byte{1}, HostPath: "/etc/hostname"}}, "both Data and HostPath"},
		{"missing host file", []Entry{File{Path: "a", HostPath: "/nonexistent/bootchain"}}, "no such file"},
		{"host dir", []Entry{File{Path: "a", HostPath: "/"}}, "expected a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(io.Discard, tt.entries, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestPlanAddsParentsInOrder(t *testing.T) {
	got, err := Plan([]Entry{File{Path: "z"}, File{Path: "a-b"}, File{Path: "/a/b/c"}, Dir{Path: "a", Mode: 0o700}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range got {
		paths = append(paths, fmt.Sprintf("%T %s", e, e.EntryPath()))
	}
	// Byte order sorts "a-b" before "a/": what matters is that every
	// directory precedes its contents.
	want := "initramfs.Dir a|initramfs.File a-b|initramfs.Dir a/b|initramfs.File a/b/c|initramfs.File z"
	if g := strings.Join(paths, "|"); g != want {
		t.Errorf("Plan order = %s, want %s", g, want)
	}
	if d := got[0].(Dir); d.Mode != 0o700 {
		t.Errorf("listed dir a lost its mode: %v", d.Mode)
	}
}

func TestRefusesFilesOf4GiB(t *testing.T) {
	host := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(host)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 32); err != nil {
		t.Skipf("cannot make a sparse 4 GiB file here: %v", err)
	}
	f.Close()
	err = Write(io.Discard, []Entry{File{Path: "big", HostPath: host}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "32 bits") {
		t.Fatalf("Write of a 4 GiB file = %v, want a size error", err)
	}
}

func TestFromDir(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "x86/artifact"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x86/artifact/hex0"), []byte("bin"), 0o750); err != nil {
		t.Fatal(err)
	}
	entries, err := FromDir(root)
	if err != nil {
		t.Fatal(err)
	}
	got := listing(t, archive(t, entries, Options{}))
	for _, want := range []string{"mode=040755 nlink=3 uid=0 gid=0 mtime=0 size=0 rdev=0,0 x86\n", "mode=100750 nlink=1 uid=0 gid=0 mtime=0 size=3 rdev=0,0 x86/artifact/hex0 "} {
		if !strings.Contains(got, want) {
			t.Errorf("listing lacks %q:\n%s", want, got)
		}
	}
	if err := os.Symlink("x86", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := FromDir(root); err == nil || !strings.Contains(err.Error(), "expected a regular file or directory") {
		t.Errorf("FromDir with a symlink = %v, want an error", err)
	}
}
