package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bootchain/bootchain/termsafe"
)

// Event kinds sent to a Progress.
const (
	EventStart = "start" // a step begins (Cached is not known yet)
	EventLog   = "log"   // a step printed a line (Line)
	EventEnd   = "end"   // a step ended (Status, Seconds, Cached, Error)
	EventDone  = "done"  // the run ended (Status "ok" or "failed", Error)
)

// StatusInterrupted is an EventEnd's Status for a step stopped by a
// signal or a cancelled context (the report says failed: it has no
// result).
const StatusInterrupted = "interrupted"

// Event is one thing that happened during a run.
type Event struct {
	Kind    string  `json:"event"`
	Step    string  `json:"step,omitempty"`
	Index   int     `json:"index,omitempty"` // 1-based
	Total   int     `json:"total,omitempty"`
	Status  string  `json:"status,omitempty"`
	Cached  bool    `json:"cached,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Line    string  `json:"line,omitempty"`
	Log     string  `json:"log,omitempty"` // the step's log file
	Error   string  `json:"error,omitempty"`
	// Until (done) is the last step the run was asked to run, and
	// NotRequested the steps after it, which it did not mean to run.
	Until        string   `json:"until,omitempty"`
	NotRequested []string `json:"not_requested,omitempty"`
}

// Progress receives a run's events. Event is called from one goroutine at
// a time.
type Progress interface {
	Event(Event)
}

// DefaultHeartbeat is how often PlainProgress reports a step still running.
const DefaultHeartbeat = time.Minute

// PlainProgress writes one line when a step starts and one when it ends:
// the form for CI logs and pipes. A long step also gets a line every
// Every (default DefaultHeartbeat; negative: never) with the time it has
// run and its last log line, so a CI log shows it is alive and where:
//
//	step 7/8 mes-libc: running 4m0s: mes-m2 ... -c lib/string/strlen.c
type PlainProgress struct {
	W     io.Writer
	Every time.Duration

	mu      sync.Mutex
	cur     *Event
	started time.Time
	last    string
	stop    chan struct{}
	now     func() time.Time // tests
}

// Event implements Progress.
func (p *PlainProgress) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case EventStart:
		fmt.Fprintf(p.W, "step %d/%d %s: started\n", e.Index, e.Total, termsafe.Escape(e.Step))
		ev := e
		p.cur, p.started, p.last = &ev, p.clock(), ""
		if every := p.every(); every > 0 {
			p.stop = make(chan struct{})
			go p.tick(every, p.stop)
		}
	case EventLog:
		p.last = e.Line
	case EventEnd:
		if p.stop != nil {
			close(p.stop)
			p.stop = nil
		}
		p.cur = nil
		fmt.Fprintf(p.W, "step %d/%d %s: %s\n", e.Index, e.Total, termsafe.Escape(e.Step), endText(e))
	}
}

func (p *PlainProgress) every() time.Duration {
	if p.Every == 0 {
		return DefaultHeartbeat
	}
	return p.Every
}

func (p *PlainProgress) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *PlainProgress) tick(every time.Duration, stop chan struct{}) {
	repeat(every, stop, p.heartbeat)
}

// repeat calls f every d until stop is closed.
func repeat(d time.Duration, stop <-chan struct{}, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			f()
		}
	}
}

// heartbeat writes the running step's line: elapsed time (whole seconds)
// and its last log line.
func (p *PlainProgress) heartbeat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return
	}
	line := fmt.Sprintf("step %d/%d %s: running %s", p.cur.Index, p.cur.Total, termsafe.Escape(p.cur.Step), p.clock().Sub(p.started).Truncate(time.Second))
	if p.last != "" {
		line += ": " + liveText(p.last)
	}
	fmt.Fprintln(p.W, line)
}

func endText(e Event) string {
	s := fmt.Sprintf("%s %.1fs", e.Status, e.Seconds)
	if e.Cached {
		s += " (cached)"
	}
	return s
}

// JSONProgress writes every event but log lines as one JSON object per line.
type JSONProgress struct {
	W io.Writer
}

// Event implements Progress.
func (p JSONProgress) Event(e Event) {
	if e.Kind == EventLog {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	p.W.Write(append(b, '\n'))
}

// TTYProgress keeps one live line per step on a terminal:
//
//	step 3/7 seed  12.3s  <last line of the step's log>
//
// redrawn as the step prints and at least every quarter second, and left
// as the step's summary when it ends. Writes through TTYProgress itself (as
// an io.Writer, e.g. for log messages) clear the live line first.
type TTYProgress struct {
	W     io.Writer
	Width int // columns; 0 means 80

	mu      sync.Mutex
	cur     *Event
	started time.Time
	last    string
	stop    chan struct{}
	shown   bool
}

// Event implements Progress.
func (p *TTYProgress) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case EventStart:
		ev := e
		p.cur, p.started, p.last = &ev, time.Now(), ""
		p.stop = make(chan struct{})
		go p.tick(p.stop)
		p.draw()
	case EventLog:
		p.last = e.Line
		p.draw()
	case EventEnd:
		if p.stop != nil {
			close(p.stop)
			p.stop = nil
		}
		p.clear()
		fmt.Fprintf(p.W, "step %d/%d %s  %s\n", e.Index, e.Total, termsafe.Escape(e.Step), endText(e))
		p.cur = nil
	}
}

func (p *TTYProgress) tick(stop chan struct{}) {
	repeat(250*time.Millisecond, stop, func() {
		p.mu.Lock()
		if p.stop == stop {
			p.draw()
		}
		p.mu.Unlock()
	})
}

func (p *TTYProgress) draw() {
	if p.cur == nil {
		return
	}
	width := p.Width
	if width <= 0 {
		width = 80
	}
	line := fmt.Sprintf("step %d/%d %s  %.1fs  %s", p.cur.Index, p.cur.Total, termsafe.Escape(p.cur.Step),
		time.Since(p.started).Seconds(), liveText(p.last))
	if r := []rune(line); len(r) > width-1 {
		line = string(r[:width-1])
	}
	fmt.Fprintf(p.W, "\r\x1b[K%s", line)
	p.shown = true
}

func (p *TTYProgress) clear() {
	if p.shown {
		fmt.Fprint(p.W, "\r\x1b[K")
		p.shown = false
	}
}

// Write writes b above the live line (for log messages).
func (p *TTYProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.W.Write(b)
	p.draw()
	return n, err
}

// liveText is a step's log line as a progress line shows it: escaped, and
// with tabs as spaces so that the line's width is its length.
func liveText(s string) string {
	return strings.ReplaceAll(termsafe.Escape(s), "\t", " ")
}
