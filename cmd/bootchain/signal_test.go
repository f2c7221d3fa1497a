package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/sandbox"
)

// loopHex0 is an 86-byte i386 Linux program that never ends: an ELF
// header, one program header, and "jmp $" at its entry point.
const loopHex0 = `# loop.hex0: an i386 program that spins forever
7F 45 4C 46 01 01 01 00 00 00 00 00 00 00 00 00 # e_ident
02 00 03 00 01 00 00 00                         # executable, i386, version 1
54 80 04 08                                     # e_entry 0x08048054
34 00 00 00 00 00 00 00 00 00 00 00             # e_phoff 52, no sections, no flags
34 00 20 00 01 00 00 00 00 00 00 00             # sizes; one program header
01 00 00 00 00 00 00 00                         # PT_LOAD from offset 0
00 80 04 08 00 80 04 08                         # at 0x08048000
56 00 00 00 56 00 00 00                         # 86 bytes in the file and in memory
05 00 00 00 00 10 00 00                         # read+execute, page aligned
EB FE                                           # jmp $
`

// loopELF is what hex0 makes of loopHex0.
func loopELF() []byte {
	var b []byte
	for _, l := range strings.Split(loopHex0, "\n") {
		l, _, _ = strings.Cut(l, "#")
		for _, f := range strings.Fields(l) {
			var x byte
			fmt.Sscanf(f, "%02X", &x)
			b = append(b, x)
		}
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// interruptCase is one command that is busy when the signal comes.
type interruptCase struct {
	name string
	sig  syscall.Signal
	args []string
	// busy is a line on stderr, or a channel, that says the command is at
	// work and may be interrupted.
	busyLine string
	busy     <-chan struct{}
}

// TestInterrupt sends SIGINT or SIGTERM to a bootchain child process in
// the middle of a step and of a download: it must end with the one line
// "bootchain: interrupted" (not "context canceled"), exit 130, and leave no
// temporary file, .part file or step root behind.
func TestInterrupt(t *testing.T) {
	var cases []func(t *testing.T, dir string) interruptCase

	// A download that stalls half way.
	cases = append(cases, func(t *testing.T, dir string) interruptCase {
		stalled := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "2000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			close(stalled)
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		writeFiles(t, filepath.Join(dir, "chain"), map[string]string{
			"chain": "chain stall\narch x86\nseed hex0-seed s/hex0-seed\nseed kaem-optional-seed s/kaem\n" +
				"source up\n    version 1\n    url " + srv.URL + "/up-1.tar\n    archive-sha256 " + sha([]byte("up")) + "\n    place up-1.tar\n" +
				"step one\n    run s/hex0-seed up-1.tar x\n    uses up\n    outputs one.sha256\n",
			"one.sha256": sha([]byte("x")) + "  x\n",
		})
		return interruptCase{name: "download", sig: syscall.SIGTERM, args: []string{"fetch", "--chain", filepath.Join(dir, "chain")}, busy: stalled}
	})

	// A step that spins forever.
	if err := sandbox.Available(); err == nil {
		cases = append(cases, func(t *testing.T, dir string) interruptCase {
			writeFiles(t, filepath.Join(dir, "chain"), map[string]string{
				"chain": "chain loop\narch x86\nseed hex0-seed s/hex0-seed\nseed kaem-optional-seed s/kaem\n" +
					"source src\n    version 1\n    local src\n    files src.sha256\n" +
					"step build\n    run s/hex0-seed loop.hex0 loop\n    uses src\n    outputs build.sha256\n" +
					"step loop\n    run ./loop\n    outputs loop.sha256\n    timeout 30m\n",
				"src/loop.hex0": loopHex0,
				"src.sha256":    sha([]byte(loopHex0)) + "  loop.hex0\n",
				"build.sha256":  sha(loopELF()) + "  loop\n",
				"loop.sha256":   sha([]byte("never")) + "  never\n",
			})
			return interruptCase{name: "step", sig: syscall.SIGINT, args: []string{"run", "--chain", filepath.Join(dir, "chain")}, busyLine: "step 2/2 loop: started"}
		})
	} else {
		t.Logf("sandbox not available, so no step to interrupt: %v", err)
	}

	for _, mk := range cases {
		dir := t.TempDir()
		tc := mk(t, dir)
		t.Run(tc.name, func(t *testing.T) {
			cache, tmp := filepath.Join(dir, "cache"), filepath.Join(dir, "tmp")
			os.Mkdir(tmp, 0o755)
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), "BOOTCHAIN_TEST_MAIN=1", "XDG_CACHE_HOME="+cache, "TMPDIR="+tmp)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var all []string
			busy := tc.busy
			deadline := time.After(2 * time.Minute) // a hang guard, not a timing check
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						cmd.Wait()
						t.Fatalf("bootchain ended before it was busy:\n%s", strings.Join(all, "\n"))
					}
					all = append(all, l)
					if tc.busyLine != "" && strings.Contains(l, tc.busyLine) {
						break wait
					}
				case <-busy:
					break wait
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("bootchain never got busy:\n%s", strings.Join(all, "\n"))
				}
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			// Read the rest until the child ends; the guard kills it if
			// the signal was ignored.
			guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			for l := range lines {
				all = append(all, l)
			}
			err = cmd.Wait()
			if !guard.Stop() {
				t.Fatalf("bootchain ignored %v and was killed:\n%s", tc.sig, strings.Join(all, "\n"))
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Errorf("exit = %v, want status %d", err, exitInterrupted)
			}
			t.Logf("stderr:\n%s", strings.Join(all, "\n"))
			if len(all) == 0 || all[len(all)-1] != "bootchain: interrupted" {
				t.Errorf("stderr does not end in \"bootchain: interrupted\":\n%s", strings.Join(all, "\n"))
			}
			for _, l := range all {
				if strings.Contains(l, "context canceled") || strings.HasPrefix(l, "bootchain: ") && l != "bootchain: interrupted" {
					t.Errorf("stderr holds another error line: %q", l)
				}
				// The stopped step did not fail.
				if strings.HasPrefix(l, "step ") && strings.Contains(l, ": failed") {
					t.Errorf("progress says a step failed: %q; expected \"interrupted\"", l)
				}
			}
			if tc.busyLine != "" && !strings.Contains(strings.Join(all, "\n"), ": interrupted ") {
				t.Errorf("progress does not say the step was interrupted:\n%s", strings.Join(all, "\n"))
			}
			// Nothing left behind: no step root, no temporary or partial file.
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("TMPDIR holds %d entries after the interrupt, e.g. %s", len(ents), ents[0].Name())
			}
			filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
				if err == nil && (strings.HasSuffix(p, ".part") || strings.HasPrefix(d.Name(), ".tmp-") || strings.Contains(d.Name(), ".import-")) {
					t.Errorf("left behind: %s", p)
				}
				return nil
			})
		})
	}
}
