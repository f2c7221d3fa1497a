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

// catmAMD64SHA256 pins the assembled x86-64 catm, as catmSHA256 the i386 one.
const catmAMD64SHA256 = "913a7313ade02e0f784e8a0b3fe03b0a4cdc7ded33c451bf283319084ff38421"

func TestCatmAMD64Assembles(t *testing.T) {
	bin, err := hex0.Assemble(bytes.NewReader(CatmSourceAMD64))
	if err != nil {
		t.Fatalf("amd64/catm.hex0: %v", err)
	}
	sum := sha256.Sum256(bin)
	if got := hex.EncodeToString(sum[:]); got != catmAMD64SHA256 {
		t.Errorf("amd64 catm sha256 %s, pinned %s", got, catmAMD64SHA256)
	}
	// ELF64, little-endian, EM_X86_64, and as long as its p_filesz says.
	if len(bin) != 258 || !bytes.HasPrefix(bin, []byte("\x7fELF\x02\x01\x01")) || bin[18] != 0x3E || int(bin[96])|int(bin[97])<<8 != len(bin) {
		t.Errorf("amd64 catm is %d bytes starting % x, want the 258-byte x86-64 ELF", len(bin), bin[:min(20, len(bin))])
	}
	if !bytes.Equal(CatmSourceFor("amd64"), CatmSourceAMD64) || !bytes.Equal(CatmSourceFor("x86"), CatmSource) || !bytes.Equal(CatmSourceFor(""), CatmSource) {
		t.Errorf("CatmSourceFor: want the x86-64 catm for amd64 only")
	}
}

// TestCatmNative runs both catms on the host, where i386 and x86-64
// binaries run natively: the same behaviour, case by case.
func TestCatmNative(t *testing.T) {
	for _, tc := range []struct {
		arch string
		src  []byte
	}{{"x86", CatmSource}, {"amd64", CatmSourceAMD64}} {
		t.Run(tc.arch, func(t *testing.T) { testCatmNative(t, tc.src) })
	}
}

func testCatmNative(t *testing.T, src []byte) {
	bin, err := hex0.Assemble(bytes.NewReader(src))
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
			t.Skipf("this host cannot run the program: %v", err)
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
