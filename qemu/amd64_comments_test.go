package qemu

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestAMD64HelperComments checks what an auditor of the x86-64 catm and
// enter relies on: every code line's comment starts with its offset from the
// start of the code, and every short jump's comment, "(NEXT + 0xD -> TARGET)"
// or "(NEXT - 0xD -> TARGET)", adds up and matches the jump's own bytes.
func TestAMD64HelperComments(t *testing.T) {
	for _, file := range []string{"guest/amd64/catm.hex0", "../engine/guest/amd64/enter.hex0"} {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lineRe := regexp.MustCompile(`^((?:[0-9A-F]{2} )+)\s*# ([0-9A-F]{2}) `)
			jumpRe := regexp.MustCompile(`\((?:[0-9A-F]{2}) ([+-]) 0x([0-9A-F]+) -> ([0-9A-F]{2})\)`)
			inCode, off, lines, jumps := false, 0, 0, 0
			for i, line := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(line, "## Code") {
					inCode = true
					continue
				}
				m := lineRe.FindStringSubmatch(line)
				if !inCode || m == nil {
					continue
				}
				lines++
				bytes := strings.Fields(m[1])
				if o, _ := strconv.ParseInt(m[2], 16, 64); int(o) != off {
					t.Errorf("line %d: comment says offset %s, the bytes are at %02X", i+1, m[2], off)
				}
				off += len(bytes)
				j := jumpRe.FindStringSubmatch(line)
				if j == nil {
					continue
				}
				jumps++
				d, _ := strconv.ParseInt(j[2], 16, 64)
				if j[1] == "-" {
					d = -d
				}
				target, _ := strconv.ParseInt(j[3], 16, 64)
				rel, _ := strconv.ParseUint(bytes[len(bytes)-1], 16, 8)
				if int64(off)+d != target || int64(int8(rel)) != d {
					t.Errorf("line %d: jump byte %s from %02X: comment says %s0x%s -> %s", i+1, bytes[len(bytes)-1], off, j[1], j[2], j[3])
				}
			}
			if lines < 20 || jumps < 6 {
				t.Errorf("%d code lines, %d jumps checked: the comment format changed?", lines, jumps)
			}
		})
	}
}
