package source

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// meter reports a download's progress: on a terminal a line redrawn at
// most ten times a second ("name  1.2 MiB / 3.4 MiB  35%  512 KiB/s"),
// otherwise one line when it starts and one when it ends.
type meter struct {
	w          io.Writer
	tty        bool
	name, url  string
	start      int64 // bytes already present when the download began
	n, total   int64
	began      time.Time
	lastRedraw time.Time
}

func newMeter(w io.Writer, name, url string, start, total int64) *meter {
	m := &meter{w: w, tty: isTerminal(w), name: name, url: url, start: start, n: start, total: total, began: time.Now()}
	if !m.tty {
		if start > 0 {
			fmt.Fprintf(w, "%s: resuming %s at %s\n", name, url, size(start))
		} else {
			fmt.Fprintf(w, "%s: downloading %s\n", name, url)
		}
	}
	return m
}

func (m *meter) Write(b []byte) (int, error) {
	m.n += int64(len(b))
	if m.tty {
		if now := time.Now(); now.Sub(m.lastRedraw) >= 100*time.Millisecond {
			m.lastRedraw = now
			m.redraw()
		}
	}
	return len(b), nil
}

func (m *meter) rate() string {
	secs := time.Since(m.began).Seconds()
	if secs <= 0 {
		return "-"
	}
	return size(int64(float64(m.n-m.start)/secs)) + "/s"
}

func (m *meter) redraw() {
	if m.total > 0 {
		fmt.Fprintf(m.w, "\r\033[K%s  %s / %s  %3d%%  %s", m.name, size(m.n), size(m.total), m.n*100/m.total, m.rate())
	} else {
		fmt.Fprintf(m.w, "\r\033[K%s  %s  %s", m.name, size(m.n), m.rate())
	}
}

// done ends the report; err is the download's outcome.
func (m *meter) done(err error) {
	if m.tty {
		m.redraw()
		fmt.Fprintln(m.w)
	}
	if err != nil {
		fmt.Fprintf(m.w, "%s: download from %s stopped at %s: %v\n", m.name, m.url, size(m.n), err)
		return
	}
	if !m.tty {
		fmt.Fprintf(m.w, "%s: downloaded %s (%s)\n", m.name, size(m.n), m.rate())
	}
}

// size formats a byte count in binary units.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
