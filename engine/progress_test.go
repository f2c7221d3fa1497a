package engine

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var someEvents = []Event{
	{Kind: EventStart, Step: "seed", Index: 1, Total: 2, Log: "/l/01-seed.log"},
	{Kind: EventLog, Step: "seed", Index: 1, Total: 2, Line: "first\tline"},
	{Kind: EventLog, Step: "seed", Index: 1, Total: 2, Line: "second line, which is rather long and will not fit on a narrow terminal at all"},
	{Kind: EventEnd, Step: "seed", Index: 1, Total: 2, Status: "ok", Seconds: 12.34},
	{Kind: EventStart, Step: "mini", Index: 2, Total: 2},
	{Kind: EventEnd, Step: "mini", Index: 2, Total: 2, Status: "ok", Cached: true, Seconds: 0.01},
	{Kind: EventDone, Status: "ok"},
}

func TestPlainProgress(t *testing.T) {
	var b bytes.Buffer
	p := &PlainProgress{W: &b, Every: -1}
	for _, e := range someEvents {
		p.Event(e)
	}
	want := "step 1/2 seed: started\nstep 1/2 seed: ok 12.3s\nstep 2/2 mini: started\nstep 2/2 mini: ok 0.0s (cached)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestJSONProgress(t *testing.T) {
	var b bytes.Buffer
	p := JSONProgress{W: &b}
	for _, e := range someEvents {
		p.Event(e)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5 (no log lines):\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("%q: %v", l, err)
		}
	}
	if lines[1] != `{"event":"end","step":"seed","index":1,"total":2,"status":"ok","seconds":12.34}` {
		t.Errorf("end event: %s", lines[1])
	}
	if lines[4] != `{"event":"done","status":"ok"}` {
		t.Errorf("done event: %s", lines[4])
	}
}

func TestTTYProgress(t *testing.T) {
	var b bytes.Buffer
	p := &TTYProgress{W: &b, Width: 40}
	for _, e := range someEvents[:3] {
		p.Event(e)
	}
	p.Write([]byte("WARN a log message\n"))
	for _, e := range someEvents[3:] {
		p.Event(e)
	}
	out := b.String()
	// The live line is redrawn in place, shows the last log line with tabs
	// made blanks, and is cut to the terminal's width.
	if !strings.Contains(out, "\r\x1b[Kstep 1/2 seed  0.0s  first line") {
		t.Errorf("no live line with the first log line:\n%q", out)
	}
	for _, l := range strings.Split(out, "\r\x1b[K") {
		if l = strings.TrimSuffix(l, "\n"); len([]rune(l)) > 39 && !strings.Contains(l, "\n") {
			t.Errorf("live line wider than the terminal: %q", l)
		}
	}
	// Log messages go above the live line; each step ends with a summary.
	if !strings.Contains(out, "\r\x1b[KWARN a log message\n") {
		t.Errorf("log message not on its own line:\n%q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[Kstep 2/2 mini  ok 0.0s (cached)\n") || !strings.Contains(out, "\r\x1b[Kstep 1/2 seed  ok 12.3s\n") {
		t.Errorf("no summaries:\n%q", out)
	}
}

// TestPlainProgressHeartbeat: while a step runs, a heartbeat says how long
// it has run and what it printed last; between steps it says nothing.
func TestPlainProgressHeartbeat(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &PlainProgress{W: &b, Every: -1, now: func() time.Time { return now }}
	p.Event(someEvents[0])
	now = now.Add(90 * time.Second)
	p.heartbeat() // before any log line
	p.Event(someEvents[1])
	now = now.Add(150 * time.Second)
	p.heartbeat()
	p.Event(someEvents[3])
	p.heartbeat() // no step running
	want := "step 1/2 seed: started\n" +
		"step 1/2 seed: running 1m30s\n" +
		"step 1/2 seed: running 4m0s: first line\n" +
		"step 1/2 seed: ok 12.3s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
