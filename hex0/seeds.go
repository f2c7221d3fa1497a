package hex0

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// The seeds' sources and their pins. Each architecture's directory holds
// hex0.hex0, kaem-minimal.hex0 and SHA256SUMS, the pinned SHA-256 of each
// seed in sha256sum format (so `sha256sum -c` checks a seed directory too).
//
//go:embed x86/*.hex0 x86/SHA256SUMS amd64/*.hex0 amd64/SHA256SUMS
var sources embed.FS

// Arches are the architectures bootchain has seeds for.
var Arches = []string{"x86", "amd64"}

// Seed names, as the files are called in a seed directory.
const (
	HexSeed  = "hex0-seed"
	KaemSeed = "kaem-optional-seed"
)

// Names lists the seeds of every architecture, hex0 first.
var Names = []string{HexSeed, KaemSeed}

var sourceOf = map[string]string{
	HexSeed:  "hex0.hex0",
	KaemSeed: "kaem-minimal.hex0",
}

// Seed is one assembled seed.
type Seed struct {
	Arch   string
	Name   string // hex0-seed or kaem-optional-seed
	Source string // path of its source inside this package, e.g. x86/hex0.hex0
	Bytes  []byte
	SHA256 string // of Bytes, lower-case hex
}

// Source returns the commented hex0 source of the named seed.
func Source(arch, name string) ([]byte, error) {
	p, err := sourcePath(arch, name)
	if err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(sources, p)
	if err != nil {
		return nil, fmt.Errorf("seed %s/%s: %w", arch, name, err)
	}
	return b, nil
}

func sourcePath(arch, name string) (string, error) {
	if !slices.Contains(Arches, arch) {
		return "", fmt.Errorf("seed arch %q: expected one of %s", arch, strings.Join(Arches, ", "))
	}
	src, ok := sourceOf[name]
	if !ok {
		return "", fmt.Errorf("seed %q: expected one of %s", name, strings.Join(Names, ", "))
	}
	return path.Join(arch, src), nil
}

// Pins returns the pinned SHA-256 of each seed of arch, by seed name.
func Pins(arch string) (map[string]string, error) {
	if !slices.Contains(Arches, arch) {
		return nil, fmt.Errorf("seed arch %q: expected one of %s", arch, strings.Join(Arches, ", "))
	}
	b, err := fs.ReadFile(sources, path.Join(arch, "SHA256SUMS"))
	if err != nil {
		return nil, fmt.Errorf("seed pins %s: %w", arch, err)
	}
	pins := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 || len(f[0]) != 64 {
			return nil, fmt.Errorf("seed pins %s/SHA256SUMS line %d: expected \"<sha256>  <name>\", found %q", arch, n, sc.Text())
		}
		pins[strings.TrimPrefix(f[1], "*")] = f[0]
	}
	return pins, nil
}

// Build assembles the named seed of arch from its embedded source with the Go
// assembler and checks the result against the seed's pin. A source with
// warnings is refused: the seeds are meant to be read, and a warning means a
// reader could be misled.
func Build(arch, name string) (Seed, error) {
	src, err := Source(arch, name)
	if err != nil {
		return Seed{}, err
	}
	return buildSource(arch, name, src)
}

// buildSource is Build applied to a given source text instead of the
// embedded one, so tests can show that a changed source fails its pin.
func buildSource(arch, name string, src []byte) (Seed, error) {
	p, err := sourcePath(arch, name)
	if err != nil {
		return Seed{}, err
	}
	out, err := Assemble(bytes.NewReader(src))
	if err != nil {
		return Seed{}, fmt.Errorf("seed %s: source %s: %w", name, p, err)
	}
	sum := sha256.Sum256(out)
	s := Seed{Arch: arch, Name: name, Source: p, Bytes: out, SHA256: hex.EncodeToString(sum[:])}
	pins, err := Pins(arch)
	if err != nil {
		return Seed{}, err
	}
	pin, ok := pins[name]
	if !ok {
		return Seed{}, fmt.Errorf("seed %s/%s: no pin in hex0/%s/SHA256SUMS", arch, name, arch)
	}
	if pin != s.SHA256 {
		return s, fmt.Errorf("seed %s/%s: sha256 is %s, expected %s (pinned in hex0/%s/SHA256SUMS); the source %s changed without its pin", arch, name, s.SHA256, pin, arch, p)
	}
	return s, nil
}

// BuildAll builds every seed of arch, in the order of Names.
func BuildAll(arch string) ([]Seed, error) {
	var seeds []Seed
	for _, n := range Names {
		s, err := Build(arch, n)
		if err != nil {
			return nil, err
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}
