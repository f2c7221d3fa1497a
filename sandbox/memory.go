package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// Where no memory cgroup holds a step, RLIMIT_AS bounds the address space
// of each of its processes: an mmap or brk beyond it fails with ENOMEM
// and the step fails as its tool does (a message, a null pointer, a
// segfault), with no counter to say why. rlimitASHit looks for the two
// traces such a failure leaves: a peak resident size close to the limit,
// or output that reports a failed allocation.

// oomPhrases are how tools say an allocation failed (lower case): libc's
// strerror(ENOMEM), GCC's xmalloc, TinyCC, Go's runtime, Mes.
var oomPhrases = [][]byte{
	[]byte("cannot allocate memory"),
	[]byte("out of memory"),
	[]byte("memory exhausted"),
	[]byte("memory full"),
	[]byte("not enough memory"),
	[]byte("enomem"),
}

// rlimitASHit says why a failed step looks to have reached its RLIMIT_AS
// limit, or "".
func rlimitASHit(limit, maxRSS int64, tail *tailWriter) string {
	if maxRSS >= limit-limit/8 {
		return fmt.Sprintf("its peak resident size was %s", MiB(maxRSS))
	}
	if tail != nil {
		t := bytes.ToLower(tail.bytes())
		for _, p := range oomPhrases {
			if bytes.Contains(t, p) {
				return "its output reports a failed allocation"
			}
		}
	}
	return ""
}

// tailWriter passes writes on and keeps the last tailSize bytes.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4096

func (t *tailWriter) keep(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*tailSize {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailSize:]...)
	}
}

func (t *tailWriter) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

type teeTail struct {
	w io.Writer // nil discards
	t *tailWriter
}

func (w teeTail) Write(b []byte) (int, error) {
	w.t.keep(b)
	if w.w == nil {
		return len(b), nil
	}
	return w.w.Write(b)
}

// keepTail wraps the step's output writers so that their end is kept. A
// writer that is an *os.File is left alone: the step gets the file itself
// (not a pipe), and its end is not kept. One writer given for both stays
// one, so that the step's two streams keep their order.
func keepTail(stdout, stderr io.Writer) (io.Writer, io.Writer, *tailWriter) {
	t := &tailWriter{}
	wrap := func(w io.Writer) io.Writer {
		if _, ok := w.(*os.File); ok {
			return w
		}
		return teeTail{w: w, t: t}
	}
	out := wrap(stdout)
	if sameWriter(stdout, stderr) {
		return out, out, t
	}
	return out, wrap(stderr), t
}

// sameWriter is a == b without a panic for writers that are not
// comparable.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
