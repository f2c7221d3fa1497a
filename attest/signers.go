package attest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bootchain/bootchain/verify"
)

// Namespace is the signing namespace of bootchain attestations: an
// allowed-signers line with a namespaces= option accepts a key for
// attestations only when the list matches it (a line for
// namespaces="git" alone does not).
const Namespace = "bootchain"

// AllowedSigner is one line of an allowed-signers file.
type AllowedSigner struct {
	Principals  []string // who the key belongs to (the first is shown)
	Key         ssh.PublicKey
	Namespaces  []string  // patterns; empty: every namespace
	ValidAfter  time.Time // zero: no bound
	ValidBefore time.Time // zero: no bound
	Line        int
}

// Name returns the principal a person reads: the first one.
func (s AllowedSigner) Name() string { return s.Principals[0] }

// AllowedSigners is an OpenSSH allowed-signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"; the file git's gpg.ssh.allowedSignersFile names):
// one key per line, "principals [options] keytype base64-key [comment]",
// with blank lines and #-comments ignored. The options bootchain honours
// are namespaces="..." (see Namespace), valid-after= and valid-before=
// (YYYYMMDD[HHMM[SS]], UTC with a trailing Z, else local time); a line
// with cert-authority is refused, since attestations carry no
// certificates.
type AllowedSigners struct {
	File    string
	Signers []AllowedSigner
}

// LoadAllowedSigners reads and parses an allowed-signers file.
func LoadAllowedSigners(file string) (*AllowedSigners, error) {
	b, err := verify.ReadRegular(file, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("allowed signers: %w", err)
	}
	return ParseAllowedSigners(file, b)
}

// ParseAllowedSigners parses the allowed-signers file named file whose
// contents are b. Errors name the file and line.
func ParseAllowedSigners(file string, b []byte) (*AllowedSigners, error) {
	a := &AllowedSigners{File: file}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("allowed signers %s line %d: %w", file, n, err)
		}
		s.Line = n
		a.Signers = append(a.Signers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("allowed signers %s line %d: %w", file, n+1, err)
	}
	return a, nil
}

func parseSignerLine(line string) (AllowedSigner, error) {
	var s AllowedSigner
	var principals, rest string
	if line[0] == '"' {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return s, errors.New("principals: unterminated quote")
		}
		principals, rest = line[1:1+end], line[2+end:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return s, errors.New("expected principals, then a key")
		}
		principals, rest = line[:i], line[i:]
	}
	for _, p := range strings.Split(principals, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.Principals = append(s.Principals, p)
		}
	}
	if len(s.Principals) == 0 {
		return s, errors.New("no principal before the key")
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return s, errors.New("no key after the principals")
	}
	pub, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("key: %w", err)
	}
	if _, err := newVerifier(pub); err != nil {
		return s, err
	}
	s.Key = pub
	for _, o := range options {
		name, val, hasVal := strings.Cut(o, "=")
		val = strings.Trim(val, `"`)
		switch strings.ToLower(name) {
		case "cert-authority":
			return s, errors.New("cert-authority: attestations carry no certificates, list the signers' own keys")
		case "namespaces":
			if !hasVal {
				return s, errors.New("namespaces: expected namespaces=\"LIST\"")
			}
			for _, ns := range strings.Split(val, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					s.Namespaces = append(s.Namespaces, ns)
				}
			}
		case "valid-after", "valid-before":
			t, err := parseSignerTime(val)
			if err != nil {
				return s, fmt.Errorf("%s: %w", name, err)
			}
			if strings.EqualFold(name, "valid-after") {
				s.ValidAfter = t
			} else {
				s.ValidBefore = t
			}
		default:
			return s, fmt.Errorf("unknown option %q", name)
		}
	}
	return s, nil
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]][Z] as ssh-keygen does.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("time %q, expected YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q, expected YYYYMMDD[HHMM[SS]][Z]", v)
	}
	return t, nil
}

// Lookup returns the lines whose key has the fingerprint id.
func (a *AllowedSigners) Lookup(id string) []AllowedSigner {
	var out []AllowedSigner
	for _, s := range a.Signers {
		if KeyID(s.Key) == id {
			out = append(out, s)
		}
	}
	return out
}

// allows says whether s accepts a signature in bootchain's namespace made
// at t (the zero time skips the validity check), and if not, why.
func (s AllowedSigner) allows(t time.Time) error {
	if len(s.Namespaces) > 0 {
		ok := false
		for _, p := range s.Namespaces {
			if m, _ := path.Match(p, Namespace); m {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("allowed only for namespaces %s, not %s", strings.Join(s.Namespaces, ","), Namespace)
		}
	}
	if !t.IsZero() {
		if !s.ValidAfter.IsZero() && t.Before(s.ValidAfter) {
			return fmt.Errorf("valid after %s, the run ended %s", s.ValidAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
		}
		if !s.ValidBefore.IsZero() && !t.Before(s.ValidBefore) {
			return fmt.Errorf("valid before %s, the run ended %s", s.ValidBefore.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
