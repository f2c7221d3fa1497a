package builderhex0

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/qemu"
)

var testGuest = qemu.Guest{Key: "test", Steps: []qemu.GuestStep{
	{Name: "one", Argv: []string{"/bin/a"}, Outputs: []string{"out/a", "out/b"}},
	{Name: "two", Argv: []string{"/bin/b"}, Outputs: []string{"out/c"}},
}}

// area builds a result area as the guest writes it, through step n, with
// the given trailer.
func area(g qemu.Guest, n int, trailer string, data map[string]string) []byte {
	nonce := g.Nonce()
	var b bytes.Buffer
	b.Write(qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameHello}))
	for i := 0; i < n; i++ {
		b.Write(qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameBegin, Step: i + 1}))
		b.Write(qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameEnd, Step: i + 1}))
		for k, o := range g.Steps[i].Outputs {
			b.Write(qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameOut, Step: i + 1, Output: k + 1, Path: "/" + o}))
			b.WriteString(data[o])
			b.Write(qemu.CloseMarker(nonce, i+1, k+1))
		}
	}
	if trailer == "fail" {
		trailer = fmt.Sprintf("begin %d", n+1)
	}
	b.WriteString("bootchain-frame " + nonce + " " + trailer + "\n")
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	data := map[string]string{"out/a": "\x7fELF\r\n\x00binary\n", "out/b": "", "out/c": "bootchain-frame not a marker\n"}
	full := area(testGuest, 2, "done", data)
	// catm stopped at out/b, which the guest did not have.
	missing := full[:bytes.Index(full, []byte("/out/b\n"))+len("/out/b\n")]
	tests := []struct {
		name  string
		area  []byte
		steps int
		done  bool
		err   string
	}{
		{"every step", full, 2, true, ""},
		{"second step failed", area(testGuest, 1, "fail", data), 1, false, ""},
		{"first step failed", area(testGuest, 0, "fail", data), 0, false, ""},
		{"failed, then more", append(area(testGuest, 0, "fail", data), "x"...), 0, false, `found "x"`},
		{"done too early", area(testGuest, 1, "done", data), 0, false, "done after 1 of 2 steps"},
		{"longer than its frames", append(append([]byte(nil), full...), "junk"...), 0, false, "bytes after the done marker"},
		{"cut short in a marker", full[:len(full)-3], 0, false, "ends inside a marker line"},
		{"cut short in an output", full[:60], 0, false, "cut short"},
		{"cut short, no trailer", full[:len(full)-len("bootchain-frame ")-32-6], 0, false, "without a done marker or a failed step's begin marker"},
		{"another chain's", area(qemu.Guest{Key: "other", Steps: testGuest.Steps}, 2, "done", data), 0, false, "this chain's nonce"},
		{"an output the guest lacks", missing, 0, false, "step 1 (one): output 2 (/out/b): the area ends at its out marker: the guest could not open the file"},
		{"empty (nothing written)", nil, 0, false, "cut short"},
		{"the boot sector (never written)", append([]byte{0xfa, 0x31, 0xc0}, make([]byte, 509)...), 0, false, "expected a marker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Decode(tc.area, testGuest)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrResult) {
					t.Fatalf("err = %v, expected one wrapping ErrResult and saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Steps) != tc.steps || res.Done != tc.done || (!res.Done && res.Failed != tc.steps+1) {
				t.Fatalf("%d steps, done %v; expected %d, %v", len(res.Steps), res.Done, tc.steps, tc.done)
			}
			for _, s := range res.Steps {
				for _, o := range s.Outputs {
					if string(o.Data) != data[o.Path] {
						t.Errorf("%s: %q, expected %q", o.Path, o.Data, data[o.Path])
					}
				}
			}
		})
	}
}

// FuzzDecode: any bytes decode or fail with ErrResult, never panic, and
// what decodes lists each step's outputs in order.
func FuzzDecode(f *testing.F) {
	f.Add(area(testGuest, 2, "done", map[string]string{"out/a": "x"}))
	f.Add(area(testGuest, 1, "fail", nil))
	f.Add([]byte("bootchain-frame\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Decode(b, testGuest)
		if err != nil {
			if !errors.Is(err, ErrResult) {
				t.Fatalf("error not wrapping ErrResult: %v", err)
			}
			return
		}
		for i, s := range res.Steps {
			if s.Step != i+1 || len(s.Outputs) != len(testGuest.Steps[i].Outputs) {
				t.Fatalf("step %d: %+v", i+1, s)
			}
		}
	})
}
