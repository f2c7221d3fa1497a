package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// writeTree creates files (path -> content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFile(t *testing.T) {
	root := writeTree(t, map[string]string{"a": "hello\n"})
	got, err := File(filepath.Join(root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum of "hello\n"
	const want = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	if got != want {
		t.Errorf("File = %s, want %s", got, want)
	}
	if _, err := File(filepath.Join(root, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("File(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestTree(t *testing.T) {
	root := writeTree(t, map[string]string{"a": "A", "x86/bin/hex1": "H", "x86/artifact/M0": "M"})
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"x86/bin/M0": "../artifact/M0", // inside: listed with M0's hash
		"to-dir":     "x86",            // a directory: not listed
		"dangling":   "nothing",        // not listed
		"out":        "../../etc/hostname",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Tree(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": sum("A"), "x86/bin/hex1": sum("H"), "x86/artifact/M0": sum("M"), "x86/bin/M0": sum("M")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tree = %v, want %v", got, want)
	}
}

func TestOutputs(t *testing.T) {
	root := writeTree(t, map[string]string{"good": "G", "bad": "B", "dir/f": "F"})
	if err := os.Symlink("/etc/hostname", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("good", filepath.Join(root, "inside")); err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{
		"good":    sum("G"),
		"bad":     sum("not B"),
		"missing": sum("M"),
		"dir":     sum("D"),
		"escape":  sum("E"),
		"inside":  sum("G"),
		"dir/f":   strings.ToUpper(sum("F")), // upper-case pins still match
	}
	got, err := Outputs(root, pins)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Path: "bad", SHA256: sum("B"), Expected: sum("not B")},
		{Path: "dir", Expected: sum("D"), Problem: "not a regular file"},
		{Path: "dir/f", SHA256: sum("F"), Expected: strings.ToUpper(sum("F")), OK: true},
		{Path: "escape", Expected: sum("E"), Problem: "path leads outside the root"},
		{Path: "good", SHA256: sum("G"), Expected: sum("G"), OK: true},
		{Path: "inside", SHA256: sum("G"), Expected: sum("G"), OK: true},
		{Path: "missing", Expected: sum("M"), Problem: "missing"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Outputs =\n%+v\nwant\n%+v", got, want)
	}
	err = FirstFailure("seed", got)
	var me *MismatchError
	if !errors.As(err, &me) || me.Path != "bad" || me.Step != "seed" || !errors.Is(err, ErrMismatch) {
		t.Errorf("FirstFailure = %v, want a MismatchError for bad in step seed", err)
	}
}

func TestMismatchError(t *testing.T) {
	x, y := sum("x"), sum("y")
	tests := []struct {
		name     string
		err      *MismatchError
		want     string
		notExist bool
	}{
		{
			name: "step output",
			err:  &MismatchError{Step: "seed", Path: "x86/artifact/hex1", Expected: y, Actual: x},
			want: "step seed: x86/artifact/hex1: sha256 is " + x + ", expected " + y + "; the step did not produce the pinned bytes",
		},
		{
			name: "source file with meaning",
			err: &MismatchError{Source: "stage0-posix", Path: "x86/M0_x86.hex2", Expected: y, Actual: x,
				Meaning: "the file was changed or the tree is not release 1.9.1"},
			want: "source stage0-posix: x86/M0_x86.hex2: sha256 is " + x + ", expected " + y + "; the file was changed or the tree is not release 1.9.1",
		},
		{
			name:     "missing",
			err:      &MismatchError{Step: "M2", Path: "x86/bin/M2-Planet", Expected: y},
			want:     "step M2: x86/bin/M2-Planet: missing, expected sha256 " + y + "; the step did not produce the pinned bytes",
			notExist: true,
		},
		{
			name: "not a regular file",
			err:  &MismatchError{Step: "M2", Path: "x86/bin", Expected: y, Problem: "not a regular file"},
			want: "step M2: x86/bin: not a regular file, expected sha256 " + y + "; the step did not produce the pinned bytes",
		},
		{
			name: "bare",
			err:  &MismatchError{Path: "a", Expected: y, Actual: x},
			want: "a: sha256 is " + x + ", expected " + y,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = tt.err
			wrapped := errors.Join(errors.New("other"), err)
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
			if !errors.Is(wrapped, ErrMismatch) {
				t.Error("errors.Is(err, ErrMismatch) = false")
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExist)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a/b", "a/b", true},
		{"./a//b/", "a/b", true},
		{"a/../b", "b", true},
		{"", "", false},
		{".", "", false},
		{"..", "", false},
		{"a/../../b", "", false},
		{"/etc/passwd", "", false},
		{`a\b`, `a\b`, true},
		{"a\x00b", "", false},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
