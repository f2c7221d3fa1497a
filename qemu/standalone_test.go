package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/sandbox"
)

// The assembled tools, pinned: a change to a source that changes a byte
// must change its line here too, on purpose.
const (
	initSHA256  = "4989a0322b367f0056ebf2b0fdd0fd1497903ccc95863b77def00c9534c6b4d4"
	initSize    = 581
	indirSHA256 = "4818bd1cd230098a62cb2ad2e0120d7884fbe221a510d202666ad9be16283607"
	indirSize   = 180
	toolBase    = 0x08048000
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestToolsAssemble(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []byte
		sum  string
		size int
	}{
		{"init", InitSource, initSHA256, initSize},
		{"indir", IndirSource, indirSHA256, indirSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, err := hex0.Assemble(bytes.NewReader(tc.src))
			if err != nil {
				t.Fatalf("%s.hex0: %v", tc.name, err)
			}
			if got := sha256Hex(bin); got != tc.sum {
				t.Errorf("%s sha256 %s, pinned %s", tc.name, got, tc.sum)
			}
			if len(bin) != tc.size || !bytes.HasPrefix(bin, []byte("\x7fELF\x01\x01\x01")) {
				t.Fatalf("%s is %d bytes starting % x, want the %d-byte i386 ELF", tc.name, len(bin), bin[:min(8, len(bin))], tc.size)
			}
			le := binary.LittleEndian
			if e := le.Uint32(bin[0x18:]); e != toolBase+0x54 {
				t.Errorf("e_entry = %#x, want %#x, right after the headers", e, toolBase+0x54)
			}
			if n := le.Uint32(bin[0x44:]); int(n) != len(bin) {
				t.Errorf("p_filesz = %d, want the file's size %d", n, len(bin))
			}
			// The seed, run natively, must give the same bytes.
			seed, err := hex0.Build("x86", hex0.HexSeed)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			seedPath := filepath.Join(dir, "hex0-seed")
			src := filepath.Join(dir, "src.hex0")
			out := filepath.Join(dir, "out")
			os.WriteFile(seedPath, seed.Bytes, 0o755)
			os.WriteFile(src, tc.src, 0o644)
			if err := exec.Command(seedPath, src, out).Run(); err != nil {
				var ee *exec.ExitError
				if errors.Is(err, syscall.ENOEXEC) || !errors.As(err, &ee) {
					t.Skipf("this host cannot run i386 binaries: %v", err)
				}
				t.Fatalf("hex0 seed: %v", err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, bin) {
				t.Errorf("the hex0 seed assembles %s.hex0 to %d bytes (sha256 %s), the Go assembler to %s", tc.name, len(got), sha256Hex(got), tc.sum)
			}
		})
	}
}

// TestToolComments checks what an auditor relies on in the tools' sources:
// every line of bytes gives its offset, every label its offset and address,
// and every jump or call the target its bytes really reach.
func TestToolComments(t *testing.T) {
	for _, tc := range []struct {
		file      string
		size      int
		minJumps  int
		wantLabel []string
	}{
		{"guest/x86/init.hex0", initSize, 15, []string{"_start", "next_script", "copy", "child", "finish", "reboot", "exit", "open_out", "end"}},
		{"guest/x86/indir.hex0", indirSize, 6, []string{"_start", "find", "found", "exit", "end"}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			src, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			checkHex0Comments(t, src, tc.size, tc.minJumps, tc.wantLabel)
		})
	}
}

func checkHex0Comments(t *testing.T, src []byte, size, minJumps int, wantLabels []string) {
	t.Helper()
	labelRe := regexp.MustCompile(`^# (\w+): \(offset 0x([0-9A-F]+), address 0x([0-9A-F]{8})\)`)
	offRe := regexp.MustCompile(`^([0-9A-F]{3})  `)
	jumpRe := regexp.MustCompile(`^[0-9A-F]{3}  (j\w+|call|loop) (\w+) \(to 0x([0-9A-F]+)\)`)
	labels := map[string]int{}
	type jump struct {
		line, target, want int
		label              string
	}
	var jumps []jump
	off := 0
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		code, comment, hasComment := strings.Cut(line, "#")
		if m := labelRe.FindStringSubmatch(line); m != nil {
			o, _ := strconv.ParseInt(m[2], 16, 64)
			a, _ := strconv.ParseInt(m[3], 16, 64)
			if int(o) != off || a != toolBase+o {
				t.Errorf("line %d: label %s says offset %#x address %#x; it is at offset %#x", n, m[1], o, a, off)
			}
			labels[m[1]] = off
			continue
		}
		fields := strings.Fields(code)
		if len(fields) == 0 {
			continue
		}
		var b []byte
		for _, f := range fields {
			v, err := hex.DecodeString(f)
			if err != nil || len(v) != 1 {
				t.Fatalf("line %d: %q is not one byte in hex", n, f)
			}
			b = append(b, v[0])
		}
		comment = strings.TrimSpace(comment)
		m := offRe.FindStringSubmatch(comment)
		if !hasComment || m == nil {
			t.Errorf("line %d: bytes without an offset comment", n)
		} else if o, _ := strconv.ParseInt(m[1], 16, 64); int(o) != off {
			t.Errorf("line %d: comment says offset %s, the bytes are at %03X", n, m[1], off)
		}
		if j := jumpRe.FindStringSubmatch(comment); j != nil {
			want, _ := strconv.ParseInt(j[3], 16, 64)
			var target int
			switch {
			case len(b) == 2 && (b[0]>>4 == 7 || b[0] == 0xEB || b[0] == 0xE2):
				target = off + 2 + int(int8(b[1]))
			case len(b) == 5 && (b[0] == 0xE8 || b[0] == 0xE9):
				target = off + 5 + int(int32(binary.LittleEndian.Uint32(b[1:])))
			case len(b) == 6 && b[0] == 0x0F && b[1]>>4 == 8:
				target = off + 6 + int(int32(binary.LittleEndian.Uint32(b[2:])))
			default:
				t.Errorf("line %d: %s with bytes % X is not a jump this test decodes", n, j[1], b)
			}
			jumps = append(jumps, jump{n, target, int(want), j[2]})
		}
		off += len(b)
	}
	if off != size {
		t.Errorf("source has %d bytes, want %d", off, size)
	}
	for _, l := range wantLabels {
		if _, ok := labels[l]; !ok {
			t.Errorf("no label %s", l)
		}
	}
	if labels["end"] != off {
		t.Errorf("end label at %#x, want %#x", labels["end"], off)
	}
	if len(jumps) < minJumps {
		t.Errorf("found %d jumps, want %d or more: is the format still parsed?", len(jumps), minJumps)
	}
	for _, j := range jumps {
		if j.target != j.want || labels[j.label] != j.want {
			t.Errorf("line %d: jump to %s says 0x%X; the bytes go to 0x%X, the label is at 0x%X", j.line, j.label, j.want, j.target, labels[j.label])
		}
	}
}

// toolBinary assembles a tool into dir, skipping when the host cannot run
// i386 binaries.
func toolBinary(t *testing.T, dir, name string, src []byte) string {
	t.Helper()
	bin, err := hex0.Assemble(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(p).Run(); err != nil {
		var ee *exec.ExitError
		if errors.Is(err, syscall.ENOEXEC) || !errors.As(err, &ee) {
			t.Skipf("this host cannot run i386 binaries: %v", err)
		}
	}
	return p
}

func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestInitNative runs init on the host with ACTION exit: it must copy
// everything the scripts print, and what programs write into the FIFO by
// path, to both outputs in order, run every script whatever the one before
// did, and report with its exit status.
func TestInitNative(t *testing.T) {
	dir := t.TempDir()
	initBin := toolBinary(t, dir, "init", InitSource)
	catm := toolBinary(t, dir, "catm", CatmSource)
	seed, err := hex0.Build("x86", "kaem-optional-seed")
	if err != nil {
		t.Fatal(err)
	}
	kaem := filepath.Join(dir, "kaem")
	os.WriteFile(kaem, seed.Bytes, 0o755)

	type tc struct {
		name    string
		scripts map[string]string // name -> text, run in name order
		args    func(w string) []string
		status  int
		out     string // both outputs, exactly; "-" when they must not exist
	}
	std := func(w string, scripts ...string) []string {
		a := []string{"exit", filepath.Join(w, "fifo"), filepath.Join(w, "o1"), filepath.Join(w, "o2"), kaem}
		for _, s := range scripts {
			a = append(a, filepath.Join(w, s))
		}
		return a
	}
	cases := []tc{
		{
			name:    "two scripts",
			scripts: map[string]string{"a": "/bin/echo one\n" + catm + " FIFO MSG\n", "b": "/bin/sh -c echo\\ two\\ >&2\n"},
			args:    func(w string) []string { return std(w, "a", "b") },
			out:     " +> /bin/echo one\none\n +> " + catm + " FIFO MSG\nmessage by path\n +> /bin/sh -c echo two >&2\ntwo\n",
		},
		{
			name:    "first fails, second runs",
			scripts: map[string]string{"a": "/bin/false\n/bin/echo not reached\n", "b": "/bin/echo report\n"},
			args:    func(w string) []string { return std(w, "a", "b") },
			status:  1,
			out:     " +> /bin/false\n +> /bin/echo report\nreport\n",
		},
		{
			name:    "kaem cannot start",
			scripts: map[string]string{"a": "/bin/echo x\n"},
			args: func(w string) []string {
				a := std(w, "a")
				a[4] = filepath.Join(w, "no-kaem")
				return a
			},
			status: 1,
			out:    "",
		},
		{
			name:    "a missing output is left out",
			scripts: map[string]string{"a": "/bin/echo x\n"},
			args: func(w string) []string {
				a := std(w, "a")
				a[3] = filepath.Join(w, "nodir", "o2")
				return a
			},
			out: " +> /bin/echo x\nx\n",
		},
		{
			name:    "unknown action",
			scripts: map[string]string{"a": "/bin/echo x\n"},
			args:    func(w string) []string { a := std(w, "a"); a[0] = "reboot"; return a },
			status:  2,
		},
		{
			name:   "no script",
			args:   func(w string) []string { return std(w) },
			status: 2,
		},
		{
			name:    "fifo path unusable",
			scripts: map[string]string{"a": "/bin/echo x\n"},
			args:    func(w string) []string { a := std(w, "a"); a[1] = filepath.Join(w, "nodir", "fifo"); return a },
			status:  3,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := t.TempDir()
			os.WriteFile(filepath.Join(w, "o1"), nil, 0o644)
			os.WriteFile(filepath.Join(w, "o2"), nil, 0o644)
			os.WriteFile(filepath.Join(w, "msg"), []byte("message by path\n"), 0o644)
			for name, text := range c.scripts {
				text = strings.ReplaceAll(text, "FIFO", filepath.Join(w, "fifo"))
				text = strings.ReplaceAll(text, "MSG", filepath.Join(w, "msg"))
				os.WriteFile(filepath.Join(w, name), []byte(text), 0o644)
			}
			cmd := exec.Command(initBin, c.args(w)...)
			cmd.Dir = w
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stdout
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("init did not exit within 30 s")
			}
			if got := exitStatus(t, err); got != c.status {
				t.Errorf("exit status %d, want %d", got, c.status)
			}
			if stdout.Len() > 0 {
				t.Errorf("init printed on its own output: %q", stdout.String())
			}
			want := strings.NewReplacer("FIFO", filepath.Join(w, "fifo"), "MSG", filepath.Join(w, "msg")).Replace(c.out)
			o1, _ := os.ReadFile(filepath.Join(w, "o1"))
			if string(o1) != want {
				t.Errorf("first output:\n%q\nwant\n%q", o1, want)
			}
			if c.name != "a missing output is left out" {
				o2, _ := os.ReadFile(filepath.Join(w, "o2"))
				if !bytes.Equal(o1, o2) {
					t.Errorf("the outputs differ:\n%q\n%q", o1, o2)
				}
			}
		})
	}
}

func TestIndirNative(t *testing.T) {
	dir := t.TempDir()
	indir := toolBinary(t, dir, "indir", IndirSource)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "script"), []byte("#!/bin/sh\npwd\necho \"$@\" \"${X-unset}\"\n"), 0o755)
	for _, c := range []struct {
		name   string
		args   []string
		status int
		out    string
	}{
		{"relative program", []string{filepath.Join(dir, "sub"), "X=set", "--", "./script", "a", "b"}, 0, filepath.Join(dir, "sub") + "\na b set\n"},
		{"relative dir, no environment", []string{"sub", "--", "./script"}, 0, filepath.Join(dir, "sub") + "\nunset\n"},
		{"-- among the arguments", []string{"sub", "X=--", "--", "./script", "--", "x"}, 0, filepath.Join(dir, "sub") + "\n-- x --\n"},
		{"only the given environment", []string{"/", "A=1", "B=2", "--", "/usr/bin/env"}, 0, "A=1\nB=2\n"},
		{"no such dir", []string{filepath.Join(dir, "none"), "--", "/bin/true"}, 1, ""},
		{"no --", []string{"sub", "./script"}, 1, ""},
		{"no --, an environment", []string{"sub", "X=1", "./script"}, 1, ""},
		{"no program", []string{"sub", "--"}, 1, ""},
		{"no program, an environment", []string{"sub", "X=1", "--"}, 1, ""},
		{"too few", []string{"sub"}, 1, ""},
		{"no such program", []string{"sub", "--", "./none"}, 127, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(indir, c.args...)
			cmd.Dir = dir
			cmd.Env = []string{"X=inherited"}
			out, err := cmd.CombinedOutput()
			if got := exitStatus(t, err); got != c.status {
				t.Errorf("exit status %d, want %d (output %q)", got, c.status, out)
			}
			if string(out) != c.out {
				t.Errorf("output %q, want %q", out, c.out)
			}
		})
	}
}

// saSeeds are the x86 seeds, at the paths the test guests use.
func saSeeds(t *testing.T) []initramfs.Entry {
	t.Helper()
	seeds, err := hex0.BuildAll("x86")
	if err != nil {
		t.Fatal(err)
	}
	var e []initramfs.Entry
	for _, s := range seeds {
		e = append(e, initramfs.File{Path: "seeds/" + s.Name, Mode: 0o755, Data: s.Bytes})
	}
	src, err := hex0.Source("x86", hex0.HexSeed)
	if err != nil {
		t.Fatal(err)
	}
	return append(e, initramfs.File{Path: "src/hex0.hex0", Mode: 0o644, Data: src})
}

// saGuest is a three-step guest: the hex0 seed rebuilds itself, catm copies
// the result in another working directory, and a step that is not run.
func saGuest(t *testing.T) (Standalone, string) {
	seed, err := hex0.Build("x86", hex0.HexSeed)
	if err != nil {
		t.Fatal(err)
	}
	s := Standalone{
		Kaem:  "seeds/kaem-optional-seed",
		Hex0:  "seeds/hex0-seed",
		Files: saSeeds(t),
		Title: "test guest",
		Steps: []CheckStep{
			{Name: "hex0", Argv: []string{"seeds/hex0-seed", "src/hex0.hex0", "bin/hex0"}, Pins: map[string]string{"bin/hex0": seed.SHA256}},
			{Name: "copy", Argv: []string{"/bootchain/catm", "b", "../../bin/hex0"}, Dir: "/out/sub", Env: []string{"A=1", "PATH=/x:/y"},
				Pins: map[string]string{"out/sub/b": seed.SHA256, "bin/hex0": seed.SHA256}},
			{Name: "later", NotRun: "in the unverified section", Pins: map[string]string{"bin/later": strings.Repeat("ab", 32)}},
		},
		End:      EndExit,
		Consoles: [2]string{"/con/serial", "/con/screen"},
	}
	return s, seed.SHA256
}

// runStandalone writes the guest's root to a directory and runs it as a
// machine would, with the kaem seed as pid 1 (in a sandbox), and returns
// what reached the two consoles and kaem's exit status.
func runStandalone(t *testing.T, s Standalone) (serial, screen string, status int) {
	t.Helper()
	if err := sandbox.Available(); err != nil {
		t.Skipf("cannot run a guest root here: %v", err)
	}
	s.Files = append(s.Files,
		initramfs.File{Path: strings.TrimPrefix(s.Consoles[0], "/"), Mode: 0o644},
		initramfs.File{Path: strings.TrimPrefix(s.Consoles[1], "/"), Mode: 0o644})
	entries, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	entries, err = initramfs.Plan(entries)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, e.EntryPath())
		switch v := e.(type) {
		case initramfs.Dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case initramfs.File:
			if err := os.WriteFile(p, v.Data, v.Mode|0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var log bytes.Buffer
	err = sandbox.Run(context.Background(), sandbox.Config{Root: root, Argv: []string{"/" + s.Kaem}, Stdout: &log, Stderr: &log, Timeout: time.Minute})
	var ee *sandbox.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		status = ee.Code
	default:
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("kaem seed (pid 1) printed:\n%s", log.String())
	a, _ := os.ReadFile(filepath.Join(root, s.Consoles[0]))
	b, _ := os.ReadFile(filepath.Join(root, s.Consoles[1]))
	return string(a), string(b), status
}

// TestStandaloneNative runs standalone guests on the host, the kaem seed
// as pid 1 of a sandbox: every output is checked in the guest, the summary
// names what failed with both hashes, and the digest the guest computes
// equals the expected one.
func TestStandaloneNative(t *testing.T) {
	_, seedSum := saGuest(t)
	emptySum := sha256Hex(nil)
	bad := strings.Repeat("0", 64)
	cases := []struct {
		name   string
		edit   func(s *Standalone)
		status int
		want   []string // in this order
		not    []string
	}{
		{
			name: "all match",
			want: []string{
				"bootchain: test guest\n",
				"OK /bootchain/init\n",
				"step 1/2 hex0: started\n",
				"OK bin/hex0\n",
				"step 1/2 hex0: ok, 1 output matches its pin\n",
				"step 2/2 copy: started\n",
				"OK bin/hex0\n",
				"OK out/sub/b\n",
				"step 2/2 copy: ok, 2 outputs match their pins\n",
				"OK /bootchain/all\n",
				"bootchain summary: test guest\n",
				"step 1/2 hex0: ok, 1 output matches its pin\n",
				"step 2/2 copy: ok, 2 outputs match their pins\n",
				"step later: not run (in the unverified section); its pins enter the digest unchecked\n",
				"2 steps verified: every output was hashed on this machine and matches its pin.\n",
				"  found     DIGEST  /bootchain/all\n",
				"    1   \x1b[1;37mGROUP1\x1b[0m\n",
				"    8   \x1b[1;37mGROUP8\x1b[0m\n",
				"\x1b[1;32mbootchain: OK.\x1b[0m\n",
			},
			not: []string{"FAILED", "MISMATCH"},
		},
		{
			name: "every step runs",
			edit: func(s *Standalone) { s.Steps = s.Steps[:2] },
			want: []string{
				"OK /bootchain/init\n",
				"step 2/2 copy: ok, 2 outputs match their pins\n",
				"all 2 steps verified: every output was hashed on this machine and matches its pin.\n",
				"  found     DIGEST  /bootchain/all\n",
				"\x1b[1;32mbootchain: OK.\x1b[0m\n",
			},
			not: []string{"FAILED", "MISMATCH", "not run"},
		},
		{
			name: "an output differs",
			edit: func(s *Standalone) {
				s.Steps[1].Pins["out/sub/b"] = bad
			},
			status: 1,
			want: []string{
				"step 2/2 copy: started\n",
				"OK bin/hex0\n",
				"FAILED out/sub/b sha256 " + seedSum + " expected " + bad + "\n",
				"bootchain summary: test guest\n",
				"step 1/2 hex0: ok, 1 output matches its pin\n",
				"step 2/2 copy: failed: out/sub/b is not the pinned file\n",
				"MISMATCH in step copy: out/sub/b is missing, unreadable, or not the pinned bytes:\n",
				"  expected  " + bad + "  out/sub/b\n",
				"  found     " + seedSum + "  out/sub/b\n",
				"chain digest: not computed, since a step failed.\n",
				"\x1b[1;31mbootchain: FAILED.\x1b[0m\n",
			},
			not: []string{"step 2/2 copy: ok", "OK /bootchain/all", "bootchain: OK"},
		},
		{
			name: "an output is missing",
			edit: func(s *Standalone) {
				s.Steps[0].Pins["bin/none"] = emptySum
			},
			status: 1,
			want: []string{
				"OK bin/hex0\n",
				"step 1/2 hex0: failed: bin/none is not the pinned file\n",
				"step 2/2 copy: not run\n",
				"  expected  " + emptySum + "  bin/none\n",
				"  found     \n",
				"chain digest: not computed, since a step failed.\n",
			},
			not: []string{"step 2/2 copy: started"},
		},
		{
			name: "a command fails",
			edit: func(s *Standalone) {
				s.Steps[0].Argv = []string{"seeds/hex0-seed", "src/none.hex0", "bin/hex0"}
			},
			status: 1,
			want: []string{
				"step 1/2 hex0: started\n",
				"bootchain summary: test guest\n",
				"step 1/2 hex0: failed: its command did not exit 0 (see its lines above)\n",
				"step 2/2 copy: not run\n",
				"chain digest: not computed, since a step failed.\n",
				"\x1b[1;31mbootchain: FAILED.\x1b[0m\n",
			},
			not: []string{"OK bin/hex0", "step 1/2 hex0: ok"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := saGuest(t)
			if c.edit != nil {
				c.edit(&s)
			}
			serial, screen, status := runStandalone(t, s)
			t.Logf("serial console:\n%s", serial)
			if status != c.status {
				t.Errorf("kaem seed (pid 1) exited %d, want %d", status, c.status)
			}
			if serial != screen {
				t.Errorf("the two consoles differ; screen:\n%s", screen)
			}
			groups := DigestGroups(s.Digest())
			rest := serial
			for _, w := range c.want {
				w = strings.NewReplacer("DIGEST", s.Digest(), "GROUP1", groups[0], "GROUP8", groups[7]).Replace(w)
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("console lacks %q (after what came before it)", w)
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, n := range c.not {
				if strings.Contains(serial, n) {
					t.Errorf("console shows %q", n)
				}
			}
		})
	}
}

// TestStandaloneDigest checks the digest against its definition, computed
// here independently: SHA-256 over the sorted "<sha256>  <path>\n" lines of
// every pin of every step, a path pinned twice giving two lines.
func TestStandaloneDigest(t *testing.T) {
	s, seedSum := saGuest(t)
	emptySum := sha256Hex(nil) // e3b0..., after the seed's 1d02...
	s.Steps[2].Pins["out/sub/b"] = emptySum
	s.Steps[2].Pins["out/sub/a"] = emptySum
	lines := []string{
		seedSum + "  bin/hex0\n", // step hex0
		seedSum + "  bin/hex0\n", // step copy
		strings.Repeat("ab", 32) + "  bin/later\n",
		emptySum + "  out/sub/a\n",
		seedSum + "  out/sub/b\n",
		emptySum + "  out/sub/b\n",
	}
	if got, want := s.Digest(), sha256Hex([]byte(strings.Join(lines, ""))); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
	if g := DigestGroups(s.Digest()); len(g) != 8 || strings.Join(g, "") != s.Digest() {
		t.Errorf("DigestGroups = %q", g)
	}
}

func TestStandaloneChecks(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(s *Standalone)
		want string
	}{
		{"no kaem", func(s *Standalone) { s.Kaem = "seeds/none" }, "kaem seed seeds/none is not among the root's files"},
		{"bad end", func(s *Standalone) { s.End = "reboot" }, `end "reboot", expected halt, poweroff or exit`},
		{"blank in argument", func(s *Standalone) { s.Steps[0].Argv[1] = "a b" }, "which the kaem seed cannot pass through"},
		{"bad pin", func(s *Standalone) { s.Steps[0].Pins["bin/hex0"] = "ABC" }, "expected 64 lowercase hex digits"},
		{"unclean output", func(s *Standalone) { s.Steps[0].Pins["./x"] = strings.Repeat("0", 64) }, "expected a clean path relative to the root"},
		{"duplicate step", func(s *Standalone) { s.Steps[1].Name = "hex0" }, "listed twice"},
		{"no command", func(s *Standalone) { s.Steps[0].Argv = nil }, "empty command"},
		{"our directory", func(s *Standalone) {
			s.Files = append(s.Files, initramfs.File{Path: "bootchain/x"})
		}, "the guest's own files live there"},
		{"bad env", func(s *Standalone) { s.Steps[1].Env = []string{"A B=1"} }, "expected NAME=value"},
		{"env with a comment", func(s *Standalone) { s.Steps[1].Env = []string{"A=#1"} }, "expected NAME=value"},
		{"dir with dots", func(s *Standalone) { s.Steps[1].Dir = "/out/../x" }, "dir"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := saGuest(t)
			c.edit(&s)
			_, err := s.Entries()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Entries: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestStandaloneGolden pins the scripts and texts a standalone guest gets:
// what an auditor reads in the initramfs.
func TestStandaloneGolden(t *testing.T) {
	s, _ := saGuest(t)
	s.Consoles = [2]string{}
	s.End = EndHalt
	entries, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kernel args: %s\n\n", s.KernelArgs())
	for _, e := range entries {
		switch v := e.(type) {
		case initramfs.File:
			if strings.HasSuffix(v.Path, ".hex0") || strings.HasPrefix(v.Path, "seeds/") {
				continue
			}
			fmt.Fprintf(&b, "==> %s (mode %04o)\n%s\n", v.Path, v.Mode, v.Data)
		case initramfs.CharDev:
			fmt.Fprintf(&b, "==> %s (char %d, %d)\n\n", v.Path, v.Major, v.Minor)
		case initramfs.Dir:
			fmt.Fprintf(&b, "==> %s/\n\n", v.Path)
		}
	}
	golden := filepath.Join("testdata", "standalone.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("standalone guest files differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}
