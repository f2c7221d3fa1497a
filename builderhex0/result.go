package builderhex0

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bootchain/bootchain/qemu"
)

// ErrResult is wrapped by every error about the result area.
var ErrResult = errors.New("builder-hex0 result area")

// StepOutputs is what the result area holds for one step that ended.
type StepOutputs struct {
	Step    int // 1-based
	Outputs []qemu.Output
}

// Result is a decoded result area.
type Result struct {
	Steps []StepOutputs // the steps that ended, in order
	Done  bool          // the done marker: every step ran
	// Failed is the 1-based step whose command failed (the area ends
	// with its begin marker); 0 when Done.
	Failed int
}

// maxMarkerLine bounds a marker line.
const maxMarkerLine = 4096

// Decode reads a result area written by the guest of g: its frames, in
// order, ending exactly at the end of area, with the done marker or the
// begin marker of the step that failed. Output paths are checked against
// g's steps.
func Decode(area []byte, g qemu.Guest) (*Result, error) {
	res, _, err := decode(area, g, true)
	return res, err
}

// decode is Decode; with exact false, bytes after the area's end are
// allowed (a disk read without the length the machine printed) and the
// area's length is returned.
func decode(area []byte, g qemu.Guest, exact bool) (*Result, int, error) {
	nonce := g.Nonce()
	prefix := "bootchain-frame " + nonce + " "
	d := &decoder{b: area, prefix: prefix}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: at byte %d of %d: %s", ErrResult, d.off, len(area), fmt.Sprintf(format, a...))
	}
	kind, args, err := d.marker()
	if err != nil {
		return nil, 0, fail("%v", err)
	}
	if kind != string(qemu.FrameHello) || len(args) != 0 {
		return nil, 0, fail("expected the hello marker, found %q", kind)
	}
	res := &Result{}
	end := func(at int, what string) (*Result, int, error) {
		if exact && d.off != len(area) {
			d.off = at
			return nil, 0, fail("%d bytes after the %s, expected it to end the area", len(area)-at, what)
		}
		return res, d.off, nil
	}
	for {
		kind, args, err := d.marker()
		if err != nil {
			return nil, 0, fail("%v", err)
		}
		switch kind {
		case string(qemu.FrameDone):
			if len(args) != 0 {
				return nil, 0, fail("marker %s with arguments", kind)
			}
			if len(res.Steps) != len(g.Steps) {
				return nil, 0, fail("done after %d of %d steps", len(res.Steps), len(g.Steps))
			}
			res.Done = true
			return end(d.off, "done marker")
		case string(qemu.FrameBegin):
			n := len(res.Steps) + 1
			if len(args) != 1 || args[0] != strconv.Itoa(n) {
				return nil, 0, fail("expected begin %d, found begin %s", n, strings.Join(args, " "))
			}
			if n > len(g.Steps) {
				return nil, 0, fail("step %d, but the guest has %d steps", n, len(g.Steps))
			}
			at := d.off
			if d.off == len(area) || !exact && !d.next(qemu.FrameEnd, n) {
				// The step's piece was never written: it failed.
				res.Failed = n
				return end(at, fmt.Sprintf("begin marker of step %d, which failed", n))
			}
			if k, a, err := d.marker(); err != nil {
				return nil, 0, fail("%v", err)
			} else if k != string(qemu.FrameEnd) || len(a) != 1 || a[0] != args[0] {
				return nil, 0, fail("expected end %d, found %s %s", n, k, strings.Join(a, " "))
			}
			so := StepOutputs{Step: n}
			for k, want := range g.Steps[n-1].Outputs {
				o, err := d.output(n, k+1, "/"+strings.TrimPrefix(want, "/"))
				if err != nil {
					return nil, 0, fail("step %d (%s): %v", n, g.Steps[n-1].Name, err)
				}
				so.Outputs = append(so.Outputs, qemu.Output{Path: strings.TrimPrefix(want, "/"), Data: o})
			}
			res.Steps = append(res.Steps, so)
		default:
			return nil, 0, fail("unexpected marker %q", clip(kind))
		}
	}
}

type decoder struct {
	b      []byte
	off    int
	prefix string
}

// next reports whether the marker of kind for step n comes next.
func (d *decoder) next(kind qemu.FrameKind, n int) bool {
	return bytes.HasPrefix(d.b[d.off:], []byte(fmt.Sprintf("%s%s %d\n", d.prefix, kind, n)))
}

// marker reads one marker line: its kind and arguments.
func (d *decoder) marker() (string, []string, error) {
	rest := d.b[d.off:]
	if n := min(len(rest), len(d.prefix)); !bytes.Equal(rest[:n], []byte(d.prefix[:n])) {
		return "", nil, fmt.Errorf("expected a marker (bootchain-frame and this chain's nonce), found %q", clip(string(rest[:min(len(rest), 40)])))
	}
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if len(rest) == 0 {
			return "", nil, errors.New("the area ends without a done marker or a failed step's begin marker (cut short)")
		}
		return "", nil, errors.New("the area ends inside a marker line (cut short)")
	}
	if i > maxMarkerLine {
		return "", nil, fmt.Errorf("expected a marker line, found %d bytes without a line feed", i)
	}
	line := string(rest[:i])
	if !strings.HasPrefix(line, d.prefix) {
		return "", nil, fmt.Errorf("expected a marker (bootchain-frame and this chain's nonce), found %q", clip(line))
	}
	f := strings.Split(line[len(d.prefix):], " ")
	d.off += i + 1
	return f[0], f[1:], nil
}

// output reads output k of step n, named p.
func (d *decoder) output(n, k int, p string) ([]byte, error) {
	kind, args, err := d.marker()
	if err != nil {
		return nil, err
	}
	want := []string{strconv.Itoa(n), strconv.Itoa(k), p}
	if kind != string(qemu.FrameOut) || strings.Join(args, " ") != strings.Join(want, " ") {
		return nil, fmt.Errorf("expected out %s, found %s %s", strings.Join(want, " "), kind, clip(strings.Join(args, " ")))
	}
	if d.off == len(d.b) {
		// finish.kaem's catm stops at the first file it cannot open.
		return nil, fmt.Errorf("output %d (%s): the area ends at its out marker: the guest could not open the file (it does not exist there)", k, p)
	}
	end := fmt.Sprintf("\n%s/out %d %d\n", d.prefix, n, k)
	i := bytes.Index(d.b[d.off:], []byte(end))
	if i < 0 {
		return nil, fmt.Errorf("output %d (%s): no close marker: the area is cut short", k, p)
	}
	data := d.b[d.off : d.off+i]
	d.off += i + len(end)
	return data, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
