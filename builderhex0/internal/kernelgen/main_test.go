package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReproduce: the committed hex0 of bootchain's kernel is exactly what
// the generator makes from the committed assembly, so the two never drift.
func TestReproduce(t *testing.T) {
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("binutils for i386 are not installed (%s: %v); .ci/run installs them", tool, err)
		}
	}
	for _, p := range Parts {
		t.Run(p.Source, func(t *testing.T) {
			dir := filepath.Join("..", "..", "kernel")
			text, code, err := Generate(context.Background(), filepath.Join(dir, p.Source), p.Base)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, p.Output))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(text, want) {
				t.Errorf("%s differs from what %s generates: run go run ./builderhex0/internal/kernelgen", p.Output, p.Source)
			}
			if len(code) == 0 {
				t.Errorf("%s: no bytes", p.Source)
			}
		})
	}
}

// TestRenderComments: a source line that emits bytes keeps its text after
// '#'; every other line becomes a comment, so no stray digit is code.
func TestRenderComments(t *testing.T) {
	src := []byte("# header 12\n.set X, 0x10 # 34\nstart:\n\tnop\t# a no-op AB\n\n\t.byte 1,2,3,4,5,6,7,8,9\t# nine\n")
	code := []byte{0x90, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	text, err := render("t.S", src, []emitted{{4, 0}, {6, 1}}, code, 0x100)
	if err != nil {
		t.Fatal(err)
	}
	want := `# header 12
#  .set X, 0x10 # 34
#  start:
90             # 0100  nop                      a no-op AB

01 02 03 04 05 06 07 08 # 0101  .byte 1,2,3,4,5,6,7,8,9  nine
09             # 0109
`
	if _, body, _ := bytes.Cut(text, []byte("#\n")); string(body) != want {
		t.Errorf("render:\n%s\nexpected:\n%s", body, want)
	}
}
