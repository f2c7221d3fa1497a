package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRlimitASHit(t *testing.T) {
	const limit = 1 << 30
	tests := []struct {
		name   string
		maxRSS int64
		output string
		want   string
	}{
		{name: "peak near the limit", maxRSS: limit - 100<<20, want: "its peak resident size was 924 MiB"},
		{name: "libc's ENOMEM", maxRSS: 10 << 20, output: "cc1: Cannot allocate memory\n", want: "its output reports a failed allocation"},
		{name: "GCC's xmalloc", output: "virtual memory exhausted: Cannot allocate memory\n", want: "its output reports a failed allocation"},
		{name: "TinyCC", output: "tcc: error: memory full (realloc)\n", want: "its output reports a failed allocation"},
		{name: "Go", output: "fatal error: runtime: out of memory\n", want: "its output reports a failed allocation"},
		{name: "another failure", maxRSS: 300 << 20, output: "M1: Target label FOO is not valid\n", want: ""},
		{name: "no output", maxRSS: 1 << 20, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tail := &tailWriter{}
			teeTail{t: tail}.Write([]byte(tc.output))
			if got := rlimitASHit(limit, tc.maxRSS, tail); got != tc.want {
				t.Errorf("rlimitASHit(%d, %q) = %q; expected %q", tc.maxRSS, tc.output, got, tc.want)
			}
		})
	}
}

// TestTailWriter: only the end is kept, and it is the end.
func TestTailWriter(t *testing.T) {
	tail := &tailWriter{}
	w := teeTail{t: tail}
	for i := 0; i < 10000; i++ {
		w.Write([]byte("0123456789"))
	}
	w.Write([]byte("out of memory"))
	b := tail.bytes()
	if len(b) > 2*tailSize || string(b[len(b)-13:]) != "out of memory" {
		t.Errorf("tail: %d bytes ending %q; expected at most %d ending \"out of memory\"", len(b), b[max(0, len(b)-13):], 2*tailSize)
	}
}

func TestCounter(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := write("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
	v1 := write("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
	single := write("memory.failcnt", "7\n")
	tests := []struct {
		file, key string
		want      int64
	}{
		{v2, "max", 12}, {v2, "oom", 1}, {v2, "oom_kill", 1}, {v2, "absent", -1},
		{v1, "oom_kill", 3}, {v1, "under_oom", 0},
		{single, "", 7},
		{filepath.Join(dir, "missing"), "oom", -1},
	}
	for _, tc := range tests {
		if got := counter(tc.file, tc.key); got != tc.want {
			t.Errorf("counter(%s, %q) = %d; expected %d", filepath.Base(tc.file), tc.key, got, tc.want)
		}
	}
}

func TestParseCgroups(t *testing.T) {
	// A hybrid host (this package's CI machine) and a pure v2 host.
	hybrid := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	ms := parseMountinfo(strings.NewReader(hybrid))
	if len(ms) != 4 || !ms[0].v2 || ms[0].dir != "/sys/fs/cgroup/unified" || !ms[2].controllers["memory"] || ms[2].dir != "/sys/fs/cgroup/memory" || ms[3].controllers["memory"] {
		t.Errorf("hybrid mountinfo: %+v", ms)
	}
	v2 := "29 23 0:26 /container /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	ms = parseMountinfo(strings.NewReader(v2))
	if len(ms) != 1 || !ms[0].v2 || ms[0].dir != "/sys/fs/cgroup" || ms[0].root != "/container" {
		t.Errorf("v2 mountinfo: %+v", ms)
	}
	own := parseProcCgroup("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/0566\n1:cpu,cpuacct:/x\n0::/user.slice/s.scope\n")
	for k, want := range map[string]string{"pids": "/", "memory": "/process_api/0566", "cpu": "/x", "cpuacct": "/x", "": "/user.slice/s.scope"} {
		if own[k] != want {
			t.Errorf("own cgroup for %q: %q, expected %q", k, own[k], want)
		}
	}
}
