package verify

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Pin is one line of a hash list: a path and its pinned SHA-256.
type Pin struct {
	Path   string // slash-separated, relative, cleaned
	SHA256 string // 64 lowercase hex digits
}

// ParseList reads a hash list in the format sha256sum writes and
// `sha256sum -c` reads: "<64 hex>  <path>" (text mode) or "<64 hex> *<path>"
// (binary mode, the same to us). A line that starts with a backslash has its
// path escaped the way GNU sha256sum does (\\ and \n). Blank lines and lines
// starting with '#' are skipped. Paths must be relative and stay inside the
// root; they are cleaned ("./a//b" is "a/b"); a path listed twice is an error. Pins are returned in list order.
// Errors name the line and what was expected and found.
func ParseList(r io.Reader) ([]Pin, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var pins []Pin
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pin, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[pin.Path]; dup {
			return nil, fmt.Errorf("line %d: %s is listed again (first on line %d)", n, pin.Path, first)
		}
		seen[pin.Path] = n
		pins = append(pins, pin)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line longer than 1 MiB: %w", err)
		}
		return nil, err
	}
	return pins, nil
}

const listForm = `"<64 hex sha256>  <path>"`

func parseLine(line string) (Pin, error) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	if len(line) < 64+2 {
		return Pin{}, fmt.Errorf("expected %s, found %q", listForm, line)
	}
	sum := strings.ToLower(line[:64])
	if !isHex(sum) {
		return Pin{}, fmt.Errorf("expected 64 hex digits of sha256, found %q", line[:64])
	}
	if line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
		return Pin{}, fmt.Errorf(`expected two spaces (or " *") after the sha256, found %q`, line[64:66])
	}
	name := line[66:]
	if escaped {
		var err error
		if name, err = unescape(name); err != nil {
			return Pin{}, err
		}
	}
	clean, err := CleanPath(name)
	if err != nil {
		return Pin{}, err
	}
	return Pin{Path: clean, SHA256: sum}, nil
}

// unescape undoes GNU coreutils' escaping of file names with a backslash or
// a newline.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("path %q ends in a lone backslash", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf(`path %q has unknown escape \%c`, s, s[i])
		}
	}
	return b.String(), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// IsSHA256 reports whether s is 64 lowercase hex digits.
func IsSHA256(s string) bool { return len(s) == 64 && isHex(s) }

// PinMap turns parsed pins into a path -> sha256 map.
func PinMap(pins []Pin) map[string]string {
	m := make(map[string]string, len(pins))
	for _, p := range pins {
		m[p.Path] = p.SHA256
	}
	return m
}

// CheckList checks every file a hash list names under root, like
// `sha256sum -c` run in root. Results are sorted by path. A file that is
// missing or is not a regular file is a failing result whose Problem says so;
// the error reports a malformed list or an I/O failure.
func CheckList(root string, list io.Reader) ([]Result, error) {
	pins, err := ParseList(list)
	if err != nil {
		return nil, fmt.Errorf("hash list: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("check list: %w", err)
	}
	defer r.Close()
	sort.Slice(pins, func(i, j int) bool { return pins[i].Path < pins[j].Path })
	results := make([]Result, 0, len(pins))
	for _, p := range pins {
		res, err := check(r, p.Path, p.SHA256)
		if err != nil {
			return nil, fmt.Errorf("check %s in %s: %w", p.Path, root, err)
		}
		results = append(results, res)
	}
	return results, nil
}
