package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bootchain/bootchain/hex0"
)

// catmSHA256 pins the assembled catm: a change to catm.hex0 that changes a
// byte must change this line too, on purpose.
const catmSHA256 = "c2e032efdf27a19f38acfef0b02b3d041529d57c5f639b7170fe5a67378948ea"

func TestCatmAssembles(t *testing.T) {
	bin, err := hex0.Assemble(bytes.NewReader(CatmSource))
	if err != nil {
		t.Fatalf("catm.hex0: %v", err)
	}
	sum := sha256.Sum256(bin)
	if got := hex.EncodeToString(sum[:]); got != catmSHA256 {
		t.Errorf("catm sha256 %s, pinned %s", got, catmSHA256)
	}
	if len(bin) != 222 || !bytes.HasPrefix(bin, []byte("\x7fELF\x01\x01\x01")) {
		t.Errorf("catm is %d bytes starting % x, want the 222-byte i386 ELF", len(bin), bin[:min(8, len(bin))])
	}
}

// TestCatmNative runs catm on the host, where i386 binaries run natively.
func TestCatmNative(t *testing.T) {
	bin, err := hex0.Assemble(bytes.NewReader(CatmSource))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	catm := filepath.Join(dir, "catm")
	if err := os.WriteFile(catm, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(catm, filepath.Join(dir, "probe")).Run(); err != nil {
		var ee *exec.ExitError
		if errors.Is(err, syscall.ENOEXEC) || !errors.As(err, &ee) {
			t.Skipf("this host cannot run i386 binaries: %v", err)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef\n\r\x00\xff"), 20000) // more than catm's 64 KiB buffer
	files := map[string][]byte{"a": []byte("hello\n"), "b": []byte("world"), "big": big, "empty": nil}
	for n, d := range files {
		if err := os.WriteFile(filepath.Join(dir, n), d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name   string
		args   []string
		status int
		want   []byte // content of out, when status is 0
	}{
		{"two files", []string{p("out"), p("a"), p("b")}, 0, []byte("hello\nworld")},
		{"no inputs truncates", []string{p("out")}, 0, nil},
		{"empty input", []string{p("out"), p("empty"), p("a")}, 0, []byte("hello\n")},
		{"bigger than the buffer", []string{p("out"), p("big"), p("a"), p("big")}, 0, append(append(append([]byte(nil), big...), "hello\n"...), big...)},
		{"same input twice", []string{p("out"), p("a"), p("a")}, 0, []byte("hello\nhello\n")},
		{"missing input", []string{p("out"), p("a"), p("missing")}, 1, nil},
		{"no arguments", nil, 1, nil},
		{"unwritable output", []string{"/dev/full", p("a")}, 1, nil},
		{"output in a missing dir", []string{p("no/out"), p("a")}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(p("out"), []byte("old content"), 0o644)
			err := exec.Command(catm, tt.args...).Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Fatalf("catm %s: status %d, want %d", strings.Join(tt.args, " "), status, tt.status)
			}
			if status == 0 {
				got, _ := os.ReadFile(p("out"))
				if !bytes.Equal(got, tt.want) {
					t.Errorf("out = %d bytes %.40q, want %d bytes %.40q", len(got), got, len(tt.want), tt.want)
				}
			}
		})
	}
	st, err := os.Stat(p("new"))
	if err == nil {
		t.Fatalf("new exists before the test: %v", st)
	}
	if err := exec.Command(catm, p("new"), p("a")).Run(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p("new")); err != nil || st.Mode().Perm()&^0o022 != 0o644&^0o022 {
		t.Errorf("created output: %v, %v; want mode 0644 (less umask)", st.Mode(), err)
	}
}
