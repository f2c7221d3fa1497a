package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// QEMUBinary is the emulator bootchain runs; its guest is always x86-64, and
// the i386 seeds run on the kernel's 32-bit compatibility layer.
const QEMUBinary = "qemu-system-x86_64"

// ErrNoQEMU and ErrNoKernel are wrapped by FindQEMU and FindKernel errors.
var (
	ErrNoQEMU   = errors.New(QEMUBinary + " not found; apt-get install qemu-system-x86")
	ErrNoKernel = errors.New("no kernel found; apt-get install linux-image-amd64 or pass --kernel")
)

// FindQEMU returns the path of the emulator: path itself when it is given
// (a name without a slash is looked up in PATH), else qemu-system-x86_64 from
// PATH.
func FindQEMU(path string) (string, error) {
	if path == "" {
		path = QEMUBinary
	}
	p, err := exec.LookPath(path)
	if err != nil {
		if strings.Contains(path, "/") {
			return "", fmt.Errorf("%w (looked at %s)", ErrNoQEMU, path)
		}
		return "", ErrNoQEMU
	}
	return p, nil
}

// FindKernel returns the kernel to boot: path when given (it must be a
// readable file), else the newest /boot/vmlinuz-* by version order.
func FindKernel(path string) (string, error) {
	return findKernel(path, "/boot")
}

func findKernel(path, bootDir string) (string, error) {
	if path != "" {
		if err := readable(path); err != nil {
			return "", fmt.Errorf("kernel %s: %w", path, err)
		}
		return path, nil
	}
	matches, _ := filepath.Glob(filepath.Join(bootDir, "vmlinuz-*"))
	if len(matches) == 0 {
		return "", fmt.Errorf("%w (no %s/vmlinuz-*)", ErrNoKernel, bootDir)
	}
	slices.SortFunc(matches, func(a, b string) int {
		return compareVersions(strings.TrimPrefix(filepath.Base(a), "vmlinuz-"), strings.TrimPrefix(filepath.Base(b), "vmlinuz-"))
	})
	newest := matches[len(matches)-1]
	if err := readable(newest); err != nil {
		return "", fmt.Errorf("kernel %s: %w (run as a user who can read it, or pass --kernel)", newest, err)
	}
	return newest, nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is %s, expected a regular file", st.Mode().Type())
	}
	return nil
}

// compareVersions orders kernel release strings the way people read them:
// runs of digits compare as numbers, everything else byte by byte, so
// 6.10.0-1 sorts after 6.9.12-3 and 6.1.0-56 after 6.1.0-9.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitRun(a, true)
			nb, rb := splitRun(b, true)
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmpInt(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if da != db {
			// A number sorts after a separator: 6.1.0-56 < 6.1.0.1
			if da {
				return 1
			}
			return -1
		}
		sa, ra := splitRun(a, false)
		sb, rb := splitRun(b, false)
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return cmpInt(len(a), len(b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitRun(s string, digits bool) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
