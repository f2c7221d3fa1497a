package chain

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadNonRegular checks that a chain directory whose definition or
// hash list is a named pipe (or a directory) is refused at once, naming the
// file: reading a named pipe would block until someone writes to it.
func TestLoadNonRegular(t *testing.T) {
	tests := []struct {
		name, file string
		fifo       bool
		want       string
	}{
		{"chain file is a FIFO", "chain", true, "/chain: expected a chain definition in a regular file, found a named pipe (FIFO)"},
		{"chain file is a directory", "chain", false, "/chain: expected a chain definition in a regular file, found a directory"},
		{"hash list is a FIFO", "one.sha256", true, "/chain line 20: expected hash list "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, f := range files(good) {
				if err := os.WriteFile(filepath.Join(dir, n), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, tt.file)
			os.Remove(p)
			var err error
			if tt.fifo {
				err = syscall.Mkfifo(p, 0o644)
			} else {
				err = os.Mkdir(p, 0o755)
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := Load(dir + "/")
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("Load blocked on %s", tt.file)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.want)
			}
			if tt.file != "chain" && !strings.Contains(err.Error(), tt.file+" to be a regular file, found a named pipe (FIFO)") {
				t.Errorf("Load = %v, want it to name %s as a named pipe", err, tt.file)
			}
		})
	}
}
