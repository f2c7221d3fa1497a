package builderhex0

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/qemu"
)

// TestFinishScriptLimits: every catm line FinishScript writes stays within
// the kaem seed's limits (4095 words, 65536 bytes with a NUL each), and
// the lines together name every marker and output once, in order. Mes's
// unpacked tree (1412 outputs of about 50 bytes) broke the byte limit.
func TestFinishScriptLimits(t *testing.T) {
	tests := []struct {
		name    string
		outputs int
		pathLen int
		split   bool // joined in parts before the line writing /dev/hda
	}{
		{"few", 3, 10, false},
		{"many short", 3000, 5, true},
		{"many long", 1500, 60, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var outs []string
			for i := range tc.outputs {
				p := fmt.Sprintf("d/%0*d", tc.pathLen, i)
				outs = append(outs, p)
			}
			g := qemu.Guest{Key: "limits", Steps: []qemu.GuestStep{{Name: "s", Argv: []string{"/x"}, Outputs: outs}}}
			if join := JoinScript(g); (join != nil) != tc.split {
				t.Fatalf("JoinScript: %q, expected a script: %v", join, tc.split)
			}
			// finish.kaem's lines, then join.kaem's, if any.
			var lines []string
			for _, l := range strings.Split(string(FinishScript(g))+string(JoinScript(g)), "\n") {
				if strings.HasPrefix(l, catmPath+" ") {
					lines = append(lines, l)
				}
			}
			if (len(lines) > 1) != tc.split {
				t.Fatalf("%d catm lines, expected parts: %v", len(lines), tc.split)
			}
			var named []string
			for i, l := range lines {
				w := strings.Fields(l)
				n := 0
				for _, x := range w {
					n += len(x) + 1
				}
				if len(w) > 4095 || n > 65536 {
					t.Errorf("line %d: %d words, %d bytes: over the kaem seed's limits", i+1, len(w), n)
				}
				if i < len(lines)-1 {
					named = append(named, w[2:]...)
				} else if w[1] != hdaPath {
					t.Errorf("last line writes %s, expected %s", w[1], hdaPath)
				} else if !tc.split {
					named = w[2:]
				}
			}
			want := 3 + 3*tc.outputs + 1 // hello, begin, piece; out, file, close each; done
			if len(named) != want || named[0] != markerFile(qemu.FrameHello, 0, 0) || named[len(named)-1] != markerFile(qemu.FrameDone, 0, 0) {
				t.Errorf("%d words named, expected %d from hello to done", len(named), want)
			}
		})
	}
}
