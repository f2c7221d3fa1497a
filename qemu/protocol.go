package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FrameKind is the kind of a protocol frame.
type FrameKind string

// Frame kinds, as they appear in markers.
const (
	FrameHello FrameKind = "hello" // the guest assembled catm and can talk
	FrameWait  FrameKind = "wait"  // the guest waits for ^D before step N
	FrameBegin FrameKind = "begin" // step N starts
	FrameEnd   FrameKind = "end"   // step N's command exited 0
	FrameOut   FrameKind = "out"   // output K of step N, with its bytes
	FrameDone  FrameKind = "done"  // every step ran
)

const (
	markerWord  = "bootchain-frame"
	maxMarker   = 4096 // longest marker line the decoder accepts
	closeMarker = "/out"
)

// Frame is one decoded message from the guest.
type Frame struct {
	Kind   FrameKind
	Step   int    // 1-based; 0 for hello and done
	Output int    // 1-based, for FrameOut
	Path   string // for FrameOut: the output's path as the guest named it
	Data   []byte // for FrameOut: the output's bytes
}

// Nonce derives the frame nonce from key: 32 hex digits.
func Nonce(key string) string {
	s := sha256.Sum256([]byte("bootchain guest protocol v1\x00" + key))
	return hex.EncodeToString(s[:16])
}

// Marker returns the marker line the guest sends to open frame f (for
// FrameOut, the line before the payload).
func Marker(nonce string, f Frame) []byte {
	var b strings.Builder
	b.WriteString(markerWord + " " + nonce + " " + string(f.Kind))
	switch f.Kind {
	case FrameHello, FrameDone:
	case FrameOut:
		fmt.Fprintf(&b, " %d %d %s", f.Step, f.Output, f.Path)
	default:
		fmt.Fprintf(&b, " %d", f.Step)
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// CloseMarker returns the line that ends output k of step n.
func CloseMarker(nonce string, n, k int) []byte {
	return fmt.Appendf(nil, "\n%s %s %s %d %d\n", markerWord, nonce, closeMarker, n, k)
}

// Encode returns the bytes the guest writes for frames, before the tty: the
// host-side twin of the guest's catm commands, used to test the decoder.
func Encode(nonce string, frames []Frame) []byte {
	var b bytes.Buffer
	for _, f := range frames {
		b.Write(Marker(nonce, f))
		if f.Kind == FrameOut {
			b.Write(f.Data)
			b.Write(CloseMarker(nonce, f.Step, f.Output))
		}
	}
	return b.Bytes()
}

// TTYOutput applies what the guest's tty does to written bytes (OPOST|ONLCR:
// "\n" becomes "\r\n").
func TTYOutput(p []byte) []byte {
	return bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))
}

// ErrFraming is wrapped by every decoding error.
var ErrFraming = errors.New("serial framing")

// Decoder turns the raw bytes of the data channel into frames. Feed it with
// Write in chunks of any size and call Close at the end of the stream; it
// calls the emit function given to NewDecoder for each complete frame, in
// order. After an error every later call returns the same error.
type Decoder struct {
	nonce  string
	prefix []byte // markerWord + " " + nonce + " "
	emit   func(Frame) error

	off     int64 // raw bytes consumed, for error messages
	pending bool  // a '\r' waits to see whether '\n' follows

	line []byte // marker line being collected (outside a frame)
	out  *Frame // open output frame
	end  []byte // its close marker
	data []byte // its payload so far (may end in a partial close marker)
	scan int    // payload bytes already searched for the close marker

	err error
}

// NewDecoder returns a decoder for frames with the given nonce.
func NewDecoder(nonce string, emit func(Frame) error) *Decoder {
	return &Decoder{nonce: nonce, prefix: []byte(markerWord + " " + nonce + " "), emit: emit}
}

// Write decodes p. It never keeps p.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	// Undo ONLCR into a scratch slice, then run the frame parser on it.
	clean := make([]byte, 0, len(p)+1)
	for i, c := range p {
		if d.pending {
			d.pending = false
			if c == '\n' {
				clean = append(clean, '\n')
				continue
			}
			clean = append(clean, '\r')
		}
		switch c {
		case '\r':
			d.pending = true
		case '\n':
			// Frames before the bad byte are still delivered, so that
			// how the stream was chunked never changes the result.
			if err := d.parse(clean); err != nil {
				d.err = err
				return 0, err
			}
			d.err = fmt.Errorf("%w: byte %d: \"\\n\" without the \"\\r\" the guest tty puts before it (is ttyS1 in OPOST|ONLCR mode?)", ErrFraming, d.off+int64(i))
			return 0, d.err
		default:
			clean = append(clean, c)
		}
	}
	d.off += int64(len(p))
	if err := d.parse(clean); err != nil {
		d.err = err
		return 0, err
	}
	return len(p), nil
}

func (d *Decoder) parse(b []byte) error {
	for len(b) > 0 {
		if d.out != nil {
			n, err := d.payload(b)
			if err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			d.line = append(d.line, b...)
			if len(d.line) > maxMarker {
				return fmt.Errorf("%w: %d bytes outside a frame without a newline, expected a marker line: %.60q...", ErrFraming, len(d.line), d.line)
			}
			return nil
		}
		d.line = append(d.line, b[:i]...)
		b = b[i+1:]
		line := d.line
		d.line = nil
		if err := d.marker(line); err != nil {
			return err
		}
	}
	return nil
}

// marker handles one complete line outside a frame.
func (d *Decoder) marker(line []byte) error {
	if len(line) > maxMarker {
		return fmt.Errorf("%w: %d-byte line outside a frame, expected a marker line", ErrFraming, len(line))
	}
	if !bytes.HasPrefix(line, d.prefix) {
		return fmt.Errorf("%w: unexpected line outside a frame: %.80q (expected %q...)", ErrFraming, line, d.prefix)
	}
	rest := string(line[len(d.prefix):])
	kind, args, _ := strings.Cut(rest, " ")
	f := Frame{Kind: FrameKind(kind)}
	bad := func(what string) error {
		return fmt.Errorf("%w: marker %q: %s", ErrFraming, rest, what)
	}
	switch f.Kind {
	case FrameHello, FrameDone:
		if args != "" || strings.Contains(rest, " ") {
			return bad("expected no arguments")
		}
	case FrameWait, FrameBegin, FrameEnd:
		n, err := index(args)
		if err != nil {
			return bad("expected a step number")
		}
		f.Step = n
	case FrameOut:
		ns, rest2, ok1 := strings.Cut(args, " ")
		ks, p, ok2 := strings.Cut(rest2, " ")
		n, err1 := index(ns)
		k, err2 := index(ks)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || p == "" {
			return bad("expected step number, output number and path")
		}
		f.Step, f.Output, f.Path = n, k, p
		d.out = &f
		d.end = CloseMarker(d.nonce, n, k)
		d.data, d.scan = nil, 0
		return nil
	default:
		return bad("unknown kind")
	}
	return d.emit(f)
}

// index parses a 1-based decimal number without sign or leading zeros.
func index(s string) (int, error) {
	if s == "" || s[0] == '0' || len(s) > 9 {
		return 0, errors.New("bad index")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad index")
		}
	}
	return strconv.Atoi(s)
}

// payload consumes bytes of an open output frame and returns how many of b
// belonged to it (the payload and its close marker).
func (d *Decoder) payload(b []byte) (int, error) {
	start := len(d.data)
	d.data = append(d.data, b...)
	from := max(d.scan-len(d.end)+1, 0)
	i := bytes.Index(d.data[from:], d.end)
	if i < 0 {
		d.scan = len(d.data)
		return len(b), nil
	}
	i += from
	used := i + len(d.end) - start
	f := *d.out
	f.Data = d.data[:i:i]
	d.out, d.end, d.data, d.scan = nil, nil, nil, 0
	if err := d.emit(f); err != nil {
		return 0, err
	}
	return used, nil
}

// Close ends the stream. It reports a frame or marker left incomplete.
func (d *Decoder) Close() error {
	if d.err != nil {
		return d.err
	}
	if d.pending {
		d.pending = false
		if err := d.parse([]byte{'\r'}); err != nil {
			d.err = err
			return err
		}
	}
	switch {
	case d.out != nil:
		d.err = &IncompleteError{Frame: *d.out, Got: len(d.data)}
	case len(d.line) > 0:
		d.err = fmt.Errorf("%w: stream ends inside a line outside a frame: %.80q", ErrFraming, d.line)
	}
	return d.err
}

// IncompleteError is returned by Close when the stream ended inside an output
// frame: the guest announced the output and then stopped, typically because
// catm could not open the file.
type IncompleteError struct {
	Frame Frame // the open frame, without Data
	Got   int   // payload bytes received before the end
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%v: output %s of step %d: stream ended after %d bytes, before the close marker", ErrFraming, e.Frame.Path, e.Frame.Step, e.Got)
}

// Unwrap makes errors.Is(err, ErrFraming) true.
func (e *IncompleteError) Unwrap() error { return ErrFraming }
