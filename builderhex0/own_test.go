package builderhex0

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/hex0"
)

// TestBootchainKernel: bootchain's own kernel assembles to its pins with no
// warning, its boot sector is one sector with the signature, and its
// source fits the layout's sectors 1-174 (checked by NewKernel).
func TestBootchainKernel(t *testing.T) {
	k, err := BootchainKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != KernelBootchain || len(k.Stage1) != SectorSize || !bytes.HasSuffix(k.Stage1, []byte{0x55, 0xAA}) {
		t.Fatalf("kernel %q, boot sector of %d bytes ending % X", k.Name, len(k.Stage1), k.Stage1[len(k.Stage1)-2:])
	}
	pins, err := ownPins()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string][]byte{"stage1": mustRead(t, OwnStage1File), "stage2": k.Stage2} {
		b, err := hex0.Assemble(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != pins[name] {
			t.Errorf("%s: sha256 %s, pinned %s", name, got, pins[name])
		}
		if name == "stage1" && !bytes.Equal(b, k.Stage1) {
			t.Errorf("stage1: the kernel's boot sector is not its hex0's bytes")
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := ownFiles.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSelectKernel: the names select a kernel; any other is one clear error.
func TestSelectKernel(t *testing.T) {
	k, err := SelectKernel(context.Background(), KernelBootchain, "", t.TempDir())
	if err != nil || k.Name != KernelBootchain {
		t.Fatalf("bootchain: kernel %q, err %v", k.Name, err)
	}
	_, err = SelectKernel(context.Background(), "linux", "", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `kernel "linux": expected one of builder-hex0, bootchain`) {
		t.Errorf("err = %v", err)
	}
}

// stage1Model is what kernel/stage1.S does with the text of sectors 1, 2,
// ...: hex digit pairs become bytes, '#' and ';' comment to the line feed
// (a pending digit waits across them), every other byte is skipped, and
// the first zero byte ends the text.
func stage1Model(text []byte) []byte {
	var out []byte
	comment, pending := false, false
	var high byte
	for _, c := range text {
		if c == 0 {
			break
		}
		if comment {
			comment = c != '\n'
			continue
		}
		if c == '#' || c == ';' {
			comment = true
			continue
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			v = c | 0x20 - 'a' + 10
		default:
			continue
		}
		if pending {
			out = append(out, high|v)
		} else {
			high = v << 4
		}
		pending = !pending
	}
	return out
}

// FuzzStage1: the boot sector's algorithm (as modelled) and bootchain's
// hex0 assembler agree on every text without a zero byte, so the kernel
// the boot sector assembles is the one the host pinned.
func FuzzStage1(f *testing.F) {
	f.Add(mustReadF(f, OwnStage2File))
	f.Add([]byte("4 1 # 2\n; 3\n4a\nzz G0 0"))
	f.Add([]byte("\xffA#\xc0\n b"))
	f.Fuzz(func(t *testing.T, text []byte) {
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		want, err := hex0.AssembleLenient(bytes.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := stage1Model(text); !bytes.Equal(got, want) {
			t.Fatalf("stage 1 gives % X, hex0 % X", got, want)
		}
	})
}

func mustReadF(f *testing.F, name string) []byte {
	b, err := ownFiles.ReadFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
