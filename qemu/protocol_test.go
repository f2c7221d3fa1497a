package qemu

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const testNonce = "0123456789abcdef0123456789abcdef"

func allBytes() []byte {
	var b []byte
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}

// decode feeds raw to a decoder in chunks of size n (all at once when n <= 0).
func decode(raw []byte, n int) ([]Frame, error) {
	var frames []Frame
	d := NewDecoder(testNonce, func(f Frame) error {
		frames = append(frames, f)
		return nil
	})
	if n <= 0 {
		n = len(raw) + 1
	}
	for len(raw) > 0 {
		c := raw[:min(n, len(raw))]
		raw = raw[len(c):]
		if _, err := d.Write(c); err != nil {
			return frames, err
		}
	}
	return frames, d.Close()
}

func TestRoundTrip(t *testing.T) {
	tricky := [][]byte{
		nil,
		[]byte("\n"),
		[]byte("\r"),
		[]byte("\r\n"),
		[]byte("\n\r"),
		[]byte("\r\r\n\n\r"),
		allBytes(),
		bytes.Repeat([]byte("\n"), 5000),
		bytes.Repeat([]byte("\r"), 5000),
		bytes.Repeat([]byte("\r\n"), 3000),
		// Almost the close marker, and a marker of another output.
		[]byte("\nbootchain-frame " + testNonce + " /out 1 2\n"),
		[]byte("\nbootchain-frame " + testNonce + " /out 1 \n"),
		[]byte("bootchain-frame " + testNonce + " out 1 1 x\n"),
	}
	var frames []Frame
	frames = append(frames, Frame{Kind: FrameHello}, Frame{Kind: FrameWait, Step: 1}, Frame{Kind: FrameBegin, Step: 1}, Frame{Kind: FrameEnd, Step: 1})
	for i, data := range tricky {
		frames = append(frames, Frame{Kind: FrameOut, Step: 1, Output: i + 1, Path: "x86/artifact/out", Data: data})
	}
	frames = append(frames, Frame{Kind: FrameDone})
	raw := TTYOutput(Encode(testNonce, frames))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 4096} {
		got, err := decode(raw, n)
		if err != nil {
			t.Fatalf("chunks of %d: %v", n, err)
		}
		if len(got) != len(frames) {
			t.Fatalf("chunks of %d: %d frames, want %d", n, len(got), len(frames))
		}
		if !reflect.DeepEqual(norm(got), norm(frames)) {
			for i := range frames {
				if !reflect.DeepEqual(norm(got[i:i+1]), norm(frames[i:i+1])) {
					t.Errorf("chunks of %d: frame %d = %+v, want %+v", n, i, got[i], frames[i])
				}
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	m := func(s string) string { return "bootchain-frame " + testNonce + " " + s + "\r\n" }
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"bare newline", "bootchain-frame\n", `"\n" without the "\r"`},
		{"noise before a marker", "login: " + m("hello"), "unexpected line outside a frame"},
		{"wrong nonce", "bootchain-frame ffffffffffffffffffffffffffffffff hello\r\n", "unexpected line outside a frame"},
		{"unknown kind", m("launch 1"), "unknown kind"},
		{"begin without step", m("begin"), "expected a step number"},
		{"step zero", m("begin 0"), "expected a step number"},
		{"leading zero", m("begin 01"), "expected a step number"},
		{"negative", m("end -1"), "expected a step number"},
		{"hello with args", m("hello 1"), "expected no arguments"},
		{"out without path", m("out 1 1"), "expected step number, output number and path"},
		{"out without close", m("out 1 1 a") + "abc", "stream ended after 3 bytes"},
		{"close of another output", m("out 1 1 a") + "abc\r\nbootchain-frame " + testNonce + " /out 1 2\r\n", "before the close marker"},
		{"half a marker at the end", "bootchain-fra", "stream ends inside a line"},
		{"endless line", strings.Repeat("x", maxMarker+1), "without a newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{0, 1} {
				_, err := decode([]byte(tt.raw), n)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrFraming) {
					t.Fatalf("chunks of %d: err = %v, want ErrFraming containing %q", n, err, tt.want)
				}
			}
		})
	}
}

func TestDecoderStopsOnEmitError(t *testing.T) {
	stop := errors.New("pin mismatch")
	d := NewDecoder(testNonce, func(f Frame) error { return stop })
	raw := TTYOutput(Encode(testNonce, []Frame{{Kind: FrameHello}, {Kind: FrameDone}}))
	if _, err := d.Write(raw); !errors.Is(err, stop) {
		t.Fatalf("Write = %v, want the emit error", err)
	}
	if err := d.Close(); !errors.Is(err, stop) {
		t.Fatalf("Close after an error = %v, want the same error", err)
	}
}

func TestNonce(t *testing.T) {
	a, b := Nonce("digest-a"), Nonce("digest-b")
	if len(a) != 32 || a == b || Nonce("digest-a") != a {
		t.Fatalf("Nonce: %q %q: want 32 stable hex digits that differ by key", a, b)
	}
}

// FuzzDecode checks that the decoder never panics, that how the stream is
// chunked never changes the result, and that any payload survives the tty
// round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(nil))
	f.Add(allBytes())
	f.Add(TTYOutput(Encode(testNonce, []Frame{{Kind: FrameHello}, {Kind: FrameBegin, Step: 1}, {Kind: FrameOut, Step: 1, Output: 1, Path: "a", Data: []byte("x\ny\r")}, {Kind: FrameDone}})))
	f.Fuzz(func(t *testing.T, raw []byte) {
		whole, errWhole := decode(raw, 0)
		for _, n := range []int{1, 5} {
			part, errPart := decode(raw, n)
			if (errWhole == nil) != (errPart == nil) || !reflect.DeepEqual(norm(whole), norm(part)) {
				t.Fatalf("chunks of %d differ from one write: %v / %v, %d / %d frames", n, errWhole, errPart, len(whole), len(part))
			}
		}
		if bytes.Contains(raw, []byte("/out 1 1")) {
			return
		}
		frames := []Frame{{Kind: FrameOut, Step: 1, Output: 1, Path: "p", Data: raw}}
		got, err := decode(TTYOutput(Encode(testNonce, frames)), 3)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, raw) {
			t.Fatalf("payload round trip: %v, %d frames", err, len(got))
		}
	})
}

func norm(fs []Frame) []Frame {
	out := make([]Frame, len(fs))
	for i, f := range fs {
		if len(f.Data) == 0 {
			f.Data = nil
		}
		out[i] = f
	}
	return out
}

// TestEchoedFrame reads the kaem seed's echoes of a real guest script's
// protocol lines back into frames, and nothing else.
func TestEchoedFrame(t *testing.T) {
	g := testGuest(t, []GuestStep{
		{Name: "one", Argv: []string{"/bin/one"}, Outputs: []string{"out/a", "out/b"}},
		{Name: "two", Argv: []string{"/bin/two"}},
	}, nil)
	g.Pause = true
	script, err := g.ScriptText()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(script), "\n") {
		if kind, n, ok := EchoedFrame([]byte(" +> " + l + "\n")); ok {
			got = append(got, fmt.Sprintf("%s-%d", kind, n))
		}
	}
	want := "hello-0 wait-1 begin-1 end-1 out-1 out-1 wait-2 begin-2 end-2 done-0"
	if strings.Join(got, " ") != want {
		t.Errorf("frames echoed: %s, want %s", strings.Join(got, " "), want)
	}
	for _, l := range []string{
		" +> /bin/one\n",
		"+> /bootchain/catm /dev/ttyS1 /bootchain/frame/begin-1\n", // no leading blank: not the seed's echo
		" +> /bootchain/catm /dev/ttyS1 /bootchain/frame/begin-x\n",
		" +> /bootchain/catm /dev/ttyS1 /bootchain/frame/begin-0\n",
		" +> /bootchain/catm /dev/ttyS1 /bootchain/frame/bogus-1\n",
		"output of a step that mentions /bootchain/frame/end-1\n",
	} {
		if kind, n, ok := EchoedFrame([]byte(l)); ok {
			t.Errorf("EchoedFrame(%q) = %s %d, want not a frame", l, kind, n)
		}
	}
}
