package source

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestEntryPath(t *testing.T) {
	tests := []struct {
		name  string
		strip int
		want  string
		ok    bool
	}{
		{"demo-1.0/x86/a", 1, "x86/a", true},
		{"./demo-1.0/x86/a", 1, "x86/a", true},
		{"demo-1.0//x86/./a", 1, "x86/a", true},
		{"demo-1.0/", 1, "", true},
		{"x86/a", 0, "x86/a", true},
		{"a/b/c", 2, "c", true},
		{"a/b", 2, "", true},
		{"/etc/passwd", 0, "", false},
		{"demo/../../x", 1, "", false},
		{"..", 0, "", false},
	}
	for _, tt := range tests {
		got, err := entryPath(tt.name, tt.strip)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("entryPath(%q, %d) = %q, %v; want %q, ok=%v", tt.name, tt.strip, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzUnpack feeds arbitrary bytes to the archive reader: it must never
// panic, never write outside its directory, and write only pinned paths.
func FuzzUnpack(f *testing.F) {
	f.Add(makeTar(f, releaseEntries("demo-1.0", false)))
	f.Add(gz(f, makeTar(f, releaseEntries("demo-1.0", true))))
	f.Add(makeTar(f, []entry{
		{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "../../../etc/passwd"},
		{name: "demo-1.0/x86/hex0_x86.hex0", typ: tar.TypeLink, link: "demo-1.0/x86/M0_x86.hex2"},
		{name: "/x86/mescc-tools-seed", body: "abs"},
	}))
	f.Add([]byte("BZh91AY&SY"))
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0})
	src := demoSource()
	f.Fuzz(func(t *testing.T, data []byte) {
		work := t.TempDir()
		archive := filepath.Join(work, "a.tar")
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(work, "out")
		os.Mkdir(dir, 0o755)
		err := unpack(context.Background(), src, archive, dir)
		ents, _ := os.ReadDir(work)
		if len(ents) != 2 {
			t.Fatalf("unpack wrote beside its directory: %d entries", len(ents))
		}
		for p := range listTree(t, dir) {
			if _, ok := src.Files[p]; !ok {
				t.Fatalf("unpack wrote %q, which is not pinned", p)
			}
		}
		if err == nil && len(listTree(t, dir)) != len(src.Files) {
			t.Fatal("unpack succeeded without every pinned file")
		}
	})
}
