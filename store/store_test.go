package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/verify"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// outputs is a step's verified output: path -> content; executables are
// listed in execs.
var outputs = map[string]string{
	"x86/artifact/hex1": "hex1 bytes",
	"x86/bin/M2-Planet": "\x7fELF M2",
	"x86/bin/catm":      "\x7fELF catm",
	"same-content":      "hex1 bytes", // shares a blob with x86/artifact/hex1
	"empty":             "",
}

var execs = map[string]bool{"x86/bin/M2-Planet": true, "x86/bin/catm": true}

const key = "8d3f0a9e5c1b2d4f6a7c8e9f0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"

func makeRoot(t *testing.T, files map[string]string) (string, map[string]string) {
	t.Helper()
	root := t.TempDir()
	pins := map[string]string{}
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if execs[p] {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			t.Fatal(err)
		}
		pins[p] = sum(c)
	}
	return root, pins
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tempFiles lists temporary files anywhere in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var tmp []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			tmp = append(tmp, p)
		}
		return nil
	})
	return tmp
}

func readTree(t *testing.T, root string) (map[string]string, map[string]fs.FileMode) {
	t.Helper()
	files, modes := map[string]string{}, map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		modes[filepath.ToSlash(rel)] = fi.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, modes
}

func TestRoundTrip(t *testing.T) {
	s := openStore(t)
	root, pins := makeRoot(t, outputs)
	if err := s.Put(key, root, pins); err != nil {
		t.Fatal(err)
	}
	e, found, err := s.Get(key)
	if err != nil || !found {
		t.Fatalf("Get = %v, %v", found, err)
	}
	if !reflect.DeepEqual(e.Files, pins) {
		t.Errorf("entry files %v, want %v", e.Files, pins)
	}
	wantModes := map[string]fs.FileMode{}
	for p := range outputs {
		wantModes[p] = 0o644
		if execs[p] {
			wantModes[p] = 0o755
		}
	}
	if !reflect.DeepEqual(e.Modes, wantModes) {
		t.Errorf("entry modes %v, want %v", e.Modes, wantModes)
	}

	// Materialize into a root that already holds other files and an older
	// version of one output.
	dest, _ := makeRoot(t, map[string]string{"seed/hex0-seed": "seed", "x86/bin/catm": "old catm"})
	if err := s.Materialize(e, dest); err != nil {
		t.Fatal(err)
	}
	files, modes := readTree(t, dest)
	want := map[string]string{"seed/hex0-seed": "seed"}
	for p, c := range outputs {
		want[p] = c
	}
	wantModes["seed/hex0-seed"] = 0o644
	if !reflect.DeepEqual(files, want) {
		t.Errorf("materialized %v, want %v", files, want)
	}
	if !reflect.DeepEqual(modes, wantModes) {
		t.Errorf("materialized modes %v, want %v", modes, wantModes)
	}
	// Shared content is stored once, read-only.
	blobs, _ := filepath.Glob(filepath.Join(s.Dir(), "blobs", "*", "*"))
	if len(blobs) != 4 {
		t.Errorf("%d blobs, want 4 (five files, two with the same content)", len(blobs))
	}
	for _, b := range blobs {
		if fi, _ := os.Stat(b); fi.Mode().Perm() != 0o444 {
			t.Errorf("blob %s has mode %v, want read-only", b, fi.Mode())
		}
	}
	if tmp := tempFiles(t, s.Dir()); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if tmp := tempFiles(t, dest); len(tmp) > 0 {
		t.Errorf("temporary files left in the root: %v", tmp)
	}
}

func TestEntryGolden(t *testing.T) {
	s := openStore(t)
	root, pins := makeRoot(t, outputs)
	if err := s.Put(key, root, pins); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.Dir(), "steps", key+".json"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "entry.golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("entry differs from %s (go test -update to accept):\n%s", golden, got)
	}
}

func TestGet(t *testing.T) {
	s := openStore(t)
	e, found, err := s.Get(key)
	if found || err != nil || e.Files != nil {
		t.Errorf("Get of a missing key = %+v, %v, %v; want not found, no error", e, found, err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 129)} {
		if _, _, err := s.Get(bad); err == nil {
			t.Errorf("Get(%q) accepted a bad key", bad)
		}
	}
	damaged := []struct{ name, body, want string }{
		{"not json", "{", "unexpected EOF"},
		{"wrong key", `{"format":1,"key":"other","files":[]}`, `key "other", expected`},
		{"bad path", `{"format":1,"key":"` + key + `","files":[{"path":"../x","sha256":"` + sum("") + `","mode":"0644","size":0}]}`, `path "../x"`},
		{"bad mode", `{"format":1,"key":"` + key + `","files":[{"path":"x","sha256":"` + sum("") + `","mode":"4755","size":0}]}`, `mode "4755"`},
		{"future format", `{"format":2,"key":"` + key + `","files":[]}`, "format 2, expected 1"},
	}
	for _, d := range damaged {
		t.Run(d.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(s.Dir(), "steps", key+".json"), []byte(d.body), 0o644)
			_, _, err := s.Get(key)
			if err == nil || !strings.Contains(err.Error(), d.want) || !strings.Contains(err.Error(), "is damaged (remove it") {
				t.Errorf("Get = %v, want an error containing %q", err, d.want)
			}
		})
	}
	if err := s.Delete(key); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(key); found || err != nil {
		t.Errorf("Get after Delete = %v, %v", found, err)
	}
	if err := s.Delete(key); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func TestPutRefuses(t *testing.T) {
	root, pins := makeRoot(t, outputs)
	os.Symlink("/etc/passwd", filepath.Join(root, "link"))
	tests := []struct {
		name     string
		files    map[string]string
		want     string
		mismatch bool
	}{
		{"changed since verified", map[string]string{"x86/bin/catm": sum("other")},
			"x86/bin/catm: sha256 is " + sum("\x7fELF catm") + ", expected " + sum("other") + "; the file in " + root + " changed after it was verified; it was not stored", true},
		{"missing file", map[string]string{"nope": sum("")}, "store: put nope: ", false},
		{"symlink out of the root", map[string]string{"link": sum("")}, "store: put link: ", false},
		{"directory", map[string]string{"x86": sum("")}, "store: put x86: not a regular file", false},
		{"unclean path", map[string]string{"x86/../x86/bin/catm": pins["x86/bin/catm"]}, "not a clean relative path", false},
		{"bad sha256", map[string]string{"x86/bin/catm": "abc"}, `sha256 "abc" is not 64 hex digits`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			files := map[string]string{"empty": sum("")}
			for p, h := range tt.files {
				files[p] = h
			}
			err := s.Put(key, root, files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Put = %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, verify.ErrMismatch) != tt.mismatch {
				t.Errorf("errors.Is(err, verify.ErrMismatch) = %v, want %v", !tt.mismatch, tt.mismatch)
			}
			if _, found, _ := s.Get(key); found {
				t.Error("a failed Put recorded an entry")
			}
			blobs, _ := filepath.Glob(filepath.Join(s.Dir(), "blobs", "*", "*"))
			for _, b := range blobs {
				if filepath.Base(b) != sum("") {
					t.Errorf("a failed Put left blob %s", b)
				}
			}
			if tmp := tempFiles(t, s.Dir()); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}

func TestMaterializeDetectsDamage(t *testing.T) {
	const victim = "x86/bin/M2-Planet"
	tests := []struct {
		name   string
		damage func(blob string)
		want   string
	}{
		{"flipped byte", func(blob string) {
			b, _ := os.ReadFile(blob)
			b[2] ^= 0x01
			os.Chmod(blob, 0o644)
			os.WriteFile(blob, b, 0o444)
		}, victim + ": sha256 is " + sum("\x7fEMF M2") + ", expected " + sum("\x7fELF M2") + "; the cached blob BLOB was changed after it was stored; delete it, or run with --no-cache"},
		{"truncated", func(blob string) { os.Truncate(blob, 1) }, victim + ": the cached blob holds 1 bytes, the entry says 7, expected sha256 " + sum("\x7fELF M2") + "; the cached blob BLOB was changed"},
		// A blob grown to 8 GiB (sparse: cheap to make) is refused by its
		// size, before a byte of it is copied.
		{"grown to 8 GiB", func(blob string) { os.Truncate(blob, 8<<30) }, victim + ": the cached blob holds 8589934592 bytes, the entry says 7"},
		// A named pipe would block the copy forever.
		{"replaced by a FIFO", func(blob string) { os.Remove(blob); syscall.Mkfifo(blob, 0o644) }, victim + ": cached as a named pipe (FIFO), not a regular file, expected sha256 " + sum("\x7fELF M2") + "; the cached blob BLOB was replaced"},
		{"missing", func(blob string) { os.Remove(blob) }, victim + ": missing, expected sha256 " + sum("\x7fELF M2") + "; the cached blob BLOB is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			root, pins := makeRoot(t, outputs)
			if err := s.Put(key, root, pins); err != nil {
				t.Fatal(err)
			}
			blob := s.blobPath(pins[victim])
			tt.damage(blob)
			e, _, _ := s.Get(key)
			dest := t.TempDir()
			var err error
			noHang(t, "Materialize", func() { err = s.Materialize(e, dest) })
			var me *verify.MismatchError
			if !errors.As(err, &me) || !errors.Is(err, verify.ErrMismatch) {
				t.Fatalf("Materialize = %v, want a *verify.MismatchError", err)
			}
			me.Step = "M2"
			want := "step M2: " + strings.ReplaceAll(tt.want, "BLOB", blob)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error =\n%s\nwant prefix\n%s", err, want)
			}
			files, _ := readTree(t, dest)
			if _, ok := files[victim]; ok {
				t.Errorf("the damaged file was left in the root")
			}
			if tmp := tempFiles(t, dest); len(tmp) > 0 {
				t.Errorf("temporary files left in the root: %v", tmp)
			}
			// A new Put of the verified file repairs the blob.
			if err := s.Put(key, root, pins); err != nil {
				t.Fatal(err)
			}
			if err := s.Materialize(e, dest); err != nil {
				t.Errorf("Materialize after the repairing Put: %v", err)
			}
		})
	}
}

func TestMaterializeStaysInRoot(t *testing.T) {
	s := openStore(t)
	root, pins := makeRoot(t, outputs)
	if err := s.Put(key, root, pins); err != nil {
		t.Fatal(err)
	}
	e, _, _ := s.Get(key)
	dest := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dest, "x86")); err != nil {
		t.Fatal(err)
	}
	if err := s.Materialize(e, dest); err == nil {
		t.Error("Materialize wrote through a symlink that leads out of the root")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("files written outside the root: %v", ents)
	}
}

func TestConcurrentPut(t *testing.T) {
	s := openStore(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		root, pins := makeRoot(t, outputs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer opens the store itself, as separate runs would.
			s2, err := Open(s.Dir())
			if err == nil {
				err = s2.Put(key, root, pins)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	e, found, err := s.Get(key)
	if !found || err != nil {
		t.Fatalf("Get = %v, %v", found, err)
	}
	if err := s.Materialize(e, t.TempDir()); err != nil {
		t.Error(err)
	}
	if tmp := tempFiles(t, s.Dir()); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestCrashLeftovers simulates a Put killed at each point: temporary blob
// and entry files, and blobs without an entry. None is visible through
// Get; the next Open removes the temporary files, unless a Put is running.
func TestCrashLeftovers(t *testing.T) {
	s := openStore(t)
	root, pins := makeRoot(t, outputs)
	if err := s.Put(key, root, pins); err != nil {
		t.Fatal(err)
	}
	// A killed Put of another key: some blobs written, a half-written blob
	// and a half-written entry, no entry.
	const other = "other-key"
	shard := filepath.Join(s.Dir(), "blobs", "ab")
	os.MkdirAll(shard, 0o755)
	leftovers := []string{
		filepath.Join(shard, tmpPrefix+"123"),
		filepath.Join(s.Dir(), "steps", tmpPrefix+"456"),
	}
	for _, p := range leftovers {
		os.WriteFile(p, []byte(`{"format":1,"key":"other-key","fi`), 0o600)
	}
	if _, found, err := s.Get(other); found || err != nil {
		t.Errorf("Get of the interrupted key = %v, %v; want not found", found, err)
	}

	// While a Put holds the store, Open must not remove its temporary files.
	unlock, ok, err := s.lock(syscall.LOCK_SH)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := Open(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if got := tempFiles(t, s.Dir()); len(got) != len(leftovers) {
		t.Errorf("Open during a Put removed temporary files: %v left", got)
	}
	unlock()

	s2, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if got := tempFiles(t, s.Dir()); len(got) != 0 {
		t.Errorf("Open left %v", got)
	}
	e, found, err := s2.Get(key)
	if !found || err != nil {
		t.Fatalf("Get of the complete key after cleaning = %v, %v", found, err)
	}
	if err := s2.Materialize(e, t.TempDir()); err != nil {
		t.Error(err)
	}
}

func TestMaterializeEmptyAndModeDefault(t *testing.T) {
	s := openStore(t)
	if err := s.Put("empty-step", t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	e, found, err := s.Get("empty-step")
	if !found || err != nil || len(e.Files) != 0 {
		t.Fatalf("Get = %+v, %v, %v", e, found, err)
	}
	dest := filepath.Join(t.TempDir(), "new-root")
	if err := s.Materialize(e, dest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("Materialize did not create the root: %v", err)
	}
	// An Entry built by hand without modes gets 0644.
	root, pins := makeRoot(t, map[string]string{"a": "A"})
	if err := s.Put("a", root, pins); err != nil {
		t.Fatal(err)
	}
	if err := s.Materialize(Entry{Files: pins}, dest); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dest, "a")); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode())
	}
}

// noHang runs f and fails the test if f has not returned after a minute:
// it blocked on a named pipe (a hang, not a slow call).
func noHang(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s blocked", what)
	}
}

// TestGetNonRegularEntry checks that an entry replaced by a named pipe is
// refused as damaged, not read (which would block).
func TestGetNonRegularEntry(t *testing.T) {
	s := openStore(t)
	if err := syscall.Mkfifo(s.entryPath(key), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	noHang(t, "Get", func() { _, _, err = s.Get(key) })
	if err == nil || !strings.Contains(err.Error(), "expected a regular file, found a named pipe (FIFO); remove it to rebuild the step, or run with --no-cache") {
		t.Errorf("Get of a FIFO entry = %v", err)
	}
	// Put replaces it with a sound entry.
	root, pins := makeRoot(t, outputs)
	if err := s.Put(key, root, pins); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(key); !found || err != nil {
		t.Errorf("Get after Put = %v, %v", found, err)
	}
}
