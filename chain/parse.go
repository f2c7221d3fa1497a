package chain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/verify"
)

// Parse reads and validates the chain definition file `chain` and its hash
// lists from fsys, the chain's directory. name is the chain's name: the
// definition must say `chain <name>`. Errors name the file and line, what
// was expected and what was found: "chain/x86/chain line 7: ...".
func Parse(name string, fsys fs.FS) (*Chain, error) {
	return parse(name, "chain/"+name, fsys)
}

// parse reads the chain in fsys; dir names the chain directory in messages.
func parse(name, dir string, fsys fs.FS) (*Chain, error) {
	file := dir + "/chain"
	b, err := fs.ReadFile(fsys, "chain")
	var nr *verify.NotRegularError
	if errors.As(err, &nr) {
		return nil, fmt.Errorf("%s: expected a chain definition in a regular file, found %s", file, verify.KindOf(nr.Mode))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p := &parser{
		name:    name,
		dir:     dir,
		file:    file,
		fsys:    fsys,
		c:       &Chain{File: file},
		outputs: map[string]bool{},
	}
	if err := p.parse(b); err != nil {
		return nil, err
	}
	return p.c, nil
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

type parser struct {
	name, dir, file string
	fsys            fs.FS
	c               *Chain

	line       int
	block      string // "", "source" or "step"
	blockLine  int
	sawChain   bool
	unverified bool
	// defaultUntilLine is where `default-until` stood, for its error.
	defaultUntilLine int
	outputs          map[string]bool // outputs of the steps before the current one
	// unpinnedBefore is set once an unverified step without pinned outputs
	// has ended: what later steps find in the root is no longer known here.
	unpinnedBefore bool
	src            *Source
	step           *Step
}

// wantName is the chain name the definition must declare, for messages.
func (p *parser) wantName() string {
	if p.name == "" {
		return "NAME"
	}
	return p.name
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s line %d: %s", p.file, p.line, fmt.Sprintf(format, args...))
}

func (p *parser) parse(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.line++
		raw := strings.TrimSuffix(sc.Text(), "\r")
		if err := p.parseLine(raw); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s line %d: %w", p.file, p.line+1, err)
	}
	if err := p.endBlock(); err != nil {
		return err
	}
	p.line++ // errors about the whole file point past its end
	switch {
	case !p.sawChain:
		return p.errorf("expected `chain %s`, found end of file", p.wantName())
	case p.c.Arch == "":
		return p.errorf("expected an `arch` directive (one of %s), found end of file", strings.Join(hex0.Arches, ", "))
	case len(p.c.Seeds) == 0:
		return p.errorf("expected at least one `seed` directive, found end of file")
	case len(p.c.Steps) == 0:
		return p.errorf("expected at least one `step`, found end of file")
	}
	if u := p.c.DefaultUntil; u != "" {
		i := p.c.StepIndex(u)
		if i < 0 || p.c.Steps[i].Unverified {
			p.line = p.defaultUntilLine
			return p.errorf("expected `default-until` to name a verified step, found %q", u)
		}
	}
	return nil
}

// content strips comments from a line: a line whose first non-blank character
// is '#' is empty, and a '#' after a blank ends the content.
func content(raw string) string {
	t := strings.TrimLeft(raw, " \t")
	if strings.HasPrefix(t, "#") {
		return ""
	}
	for i := 1; i < len(raw); i++ {
		if raw[i] == '#' && (raw[i-1] == ' ' || raw[i-1] == '\t') {
			raw = raw[:i]
			break
		}
	}
	return strings.TrimRight(raw, " \t")
}

func (p *parser) parseLine(raw string) error {
	for _, r := range raw {
		if r == 0xfffd || (r < 0x20 && r != '\t') || r == 0x7f {
			return p.errorf("expected text, found control or invalid character %q", r)
		}
	}
	line := content(raw)
	if strings.TrimSpace(line) == "" {
		return nil
	}
	indented := line[0] == ' ' || line[0] == '\t'
	fields := strings.Fields(line)
	key, args := fields[0], fields[1:]
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), key))
	if indented {
		switch p.block {
		case "source":
			return p.sourceDirective(key, args, rest)
		case "step":
			return p.stepDirective(key, args, rest)
		}
		return p.errorf("expected a top-level directive at the start of the line, found indented %q outside a source or step block", key)
	}
	if err := p.endBlock(); err != nil {
		return err
	}
	if !p.sawChain && key != "chain" {
		return p.errorf("expected `chain %s` as the first directive, found %q", p.wantName(), key)
	}
	switch key {
	case "chain":
		if p.sawChain {
			return p.errorf("expected one `chain` directive, found a second")
		}
		if p.name == "" && len(args) == 1 && nameRE.MatchString(args[0]) {
			p.name = args[0]
		}
		if len(args) != 1 || args[0] != p.name {
			return p.errorf("expected `chain %s`, found %q", p.wantName(), strings.TrimSpace(line))
		}
		p.sawChain = true
		p.c.Name = args[0]
	case "describe":
		if rest == "" {
			return p.errorf("expected a description after describe, found nothing")
		}
		p.c.Describe = rest
	case "arch":
		if len(args) != 1 || !slices.Contains(hex0.Arches, args[0]) {
			return p.errorf("expected `arch` followed by one of %s, found %q", strings.Join(hex0.Arches, ", "), rest)
		}
		if p.c.Arch != "" {
			return p.errorf("expected one `arch` directive, found a second")
		}
		p.c.Arch = args[0]
	case "seed":
		if len(args) != 2 {
			return p.errorf("expected `seed NAME PATH`, found %q", strings.TrimSpace(line))
		}
		if !slices.Contains(hex0.Names, args[0]) {
			return p.errorf("expected a seed name (one of %s), found %q", strings.Join(hex0.Names, ", "), args[0])
		}
		for _, s := range p.c.Seeds {
			if s.Name == args[0] {
				return p.errorf("expected each seed once, found seed %s again", args[0])
			}
		}
		sp, err := p.rootPath("seed path", args[1])
		if err != nil {
			return err
		}
		if err := p.fresh(sp); err != nil {
			return err
		}
		p.c.Seeds = append(p.c.Seeds, Seed{Name: args[0], Path: sp})
	case "seed-source":
		if len(args) != 2 {
			return p.errorf("expected `seed-source NAME PATH`, found %q", strings.TrimSpace(line))
		}
		i := slices.IndexFunc(p.c.Seeds, func(s Seed) bool { return s.Name == args[0] })
		if i < 0 {
			return p.errorf("expected a seed declared above with `seed %s PATH`, found seed-source for undeclared seed %q", args[0], args[0])
		}
		if p.c.Seeds[i].Source != "" {
			return p.errorf("expected one seed-source for seed %s, found a second", args[0])
		}
		sp, err := p.rootPath("seed source path", args[1])
		if err != nil {
			return err
		}
		if err := p.fresh(sp); err != nil {
			return err
		}
		p.c.Seeds[i].Source = sp
	case "source":
		if len(args) != 1 || !nameRE.MatchString(args[0]) {
			return p.errorf("expected `source NAME` (letters, digits, . _ + -), found %q", strings.TrimSpace(line))
		}
		if _, dup := p.c.Source(args[0]); dup {
			return p.errorf("expected each source once, found source %s again", args[0])
		}
		p.c.Sources = append(p.c.Sources, Source{Name: args[0], Files: map[string]string{}})
		p.src = &p.c.Sources[len(p.c.Sources)-1]
		p.block, p.blockLine = "source", p.line
	case "step":
		if len(args) != 1 || !nameRE.MatchString(args[0]) {
			return p.errorf("expected `step NAME` (letters, digits, . _ + -), found %q", strings.TrimSpace(line))
		}
		if p.c.StepIndex(args[0]) >= 0 {
			return p.errorf("expected each step once, found step %s again", args[0])
		}
		p.c.Steps = append(p.c.Steps, Step{
			Name: args[0], Dir: "/", Timeout: DefaultTimeout,
			Outputs: map[string]string{}, Unverified: p.unverified, Line: p.line,
		})
		p.step = &p.c.Steps[len(p.c.Steps)-1]
		p.block, p.blockLine = "step", p.line
	case "default-until":
		if len(args) != 1 || p.c.DefaultUntil != "" {
			return p.errorf("expected one `default-until STEP`, found %q", strings.TrimSpace(line))
		}
		p.c.DefaultUntil = args[0]
		p.defaultUntilLine = p.line
	case "section":
		if len(args) != 1 || args[0] != "unverified" {
			return p.errorf("expected `section unverified`, found %q", strings.TrimSpace(line))
		}
		if p.unverified {
			return p.errorf("expected one `section unverified`, found a second")
		}
		p.unverified = true
	default:
		return p.errorf("expected a directive (chain, describe, arch, seed, seed-source, source, step, default-until, section), found %q", key)
	}
	return nil
}

// fresh refuses a seed path that is already taken by another seed file.
func (p *parser) fresh(sp string) error {
	for _, s := range p.c.Seeds {
		if s.Path == sp || s.Source == sp {
			return p.errorf("expected a path not used by another seed, found %s again", sp)
		}
	}
	return nil
}

// rootPath checks a slash-separated path inside the root and returns it
// cleaned and relative ("./x/y" and "/x/y" both give "x/y").
func (p *parser) rootPath(what, s string) (string, error) {
	c := path.Clean("/" + s)
	if c == "/" || strings.Contains(s, "\\") || slices.Contains(strings.Split(s, "/"), "..") {
		return "", p.errorf("expected %s: a file path inside the root without .., found %q", what, s)
	}
	return c[1:], nil
}

func (p *parser) sourceDirective(key string, args []string, rest string) error {
	s := p.src
	one := func() error {
		if len(args) != 1 {
			return p.errorf("source %s: expected `%s` with one value, found %q", s.Name, key, rest)
		}
		return nil
	}
	switch key {
	case "version":
		if err := one(); err != nil {
			return err
		}
		s.Version = args[0]
	case "url":
		if err := one(); err != nil {
			return err
		}
		if !strings.HasPrefix(args[0], "https://") && !strings.HasPrefix(args[0], "http://") {
			return p.errorf("source %s: expected an http(s) URL, found %q", s.Name, args[0])
		}
		if s.Local != nil {
			return p.errorf("source %s: expected either url or local, found both", s.Name)
		}
		s.URLs = append(s.URLs, args[0])
	case "archive-sha256":
		if err := one(); err != nil {
			return err
		}
		if !hashRE.MatchString(args[0]) {
			return p.errorf("source %s: expected 64 lower-case hex digits after archive-sha256, found %q", s.Name, args[0])
		}
		s.ArchiveSHA256 = args[0]
	case "strip":
		if err := one(); err != nil {
			return err
		}
		if s.Place != "" {
			return p.errorf("source %s: expected either place or strip, found both", s.Name)
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 || n > 16 {
			return p.errorf("source %s: expected a number of path components (0-16) after strip, found %q", s.Name, args[0])
		}
		s.Strip = n
	case "files":
		if err := one(); err != nil {
			return err
		}
		if s.FilesList != "" {
			return p.errorf("source %s: expected one files list, found a second (%s)", s.Name, args[0])
		}
		if s.Place != "" {
			return p.errorf("source %s: expected either place or files, found both", s.Name)
		}
		pins, err := p.hashList(args[0])
		if err != nil {
			return err
		}
		s.Files = pins
		s.FilesList = args[0]
	case "local":
		if err := one(); err != nil {
			return err
		}
		if len(s.URLs) > 0 {
			return p.errorf("source %s: expected either url or local, found both", s.Name)
		}
		if s.Local != nil {
			return p.errorf("source %s: expected one local directory, found a second", s.Name)
		}
		d, err := p.rootPath("a directory inside the chain directory", args[0])
		if err != nil {
			return err
		}
		if fi, err := fs.Stat(p.fsys, d); err != nil || !fi.IsDir() {
			return p.errorf("source %s: expected directory %s/%s, found none", s.Name, p.dir, d)
		}
		sub, err := fs.Sub(p.fsys, d)
		if err != nil {
			return p.errorf("source %s: local %s: %v", s.Name, d, err)
		}
		s.Local, s.LocalDir = sub, d
	case "place":
		if err := one(); err != nil {
			return err
		}
		if s.Place != "" {
			return p.errorf("source %s: expected one place, found a second (%s)", s.Name, args[0])
		}
		if s.FilesList != "" || s.Strip != 0 {
			return p.errorf("source %s: expected place instead of files and strip, found it with them", s.Name)
		}
		d, err := p.rootPath("an archive path inside the root", args[0])
		if err != nil {
			return err
		}
		if err := p.fresh(d); err != nil {
			return err
		}
		s.Place = d
	case "sizes":
		if err := one(); err != nil {
			return err
		}
		if s.SizesList != "" {
			return p.errorf("source %s: expected one sizes list, found a second (%s)", s.Name, args[0])
		}
		sizes, err := p.sizeList(args[0])
		if err != nil {
			return err
		}
		s.Sizes, s.SizesList = sizes, args[0]
	case "archive-size":
		if err := one(); err != nil {
			return err
		}
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n <= 0 {
			return p.errorf("source %s: expected a size in bytes after archive-size, found %q", s.Name, args[0])
		}
		s.ArchiveSize = n
	case "at":
		if err := one(); err != nil {
			return err
		}
		if s.At != "" {
			return p.errorf("source %s: expected one at, found a second (%s)", s.Name, args[0])
		}
		d, err := p.rootPath("a directory inside the root", args[0])
		if err != nil {
			return err
		}
		s.At = d
	default:
		return p.errorf("source %s: expected a source directive (version, url, archive-sha256, archive-size, strip, files, sizes, local, place, at), found %q", s.Name, key)
	}
	return nil
}

func (p *parser) stepDirective(key string, args []string, rest string) error {
	s := p.step
	switch key {
	case "describe":
		if rest == "" {
			return p.errorf("step %s: expected a description after describe, found nothing", s.Name)
		}
		s.Describe = rest
	case "pending":
		if !s.Unverified {
			return p.errorf("step %s: expected pending only after `section unverified` (a verified step needs its commands), found it in the verified part", s.Name)
		}
		if rest == "" {
			return p.errorf("step %s: expected why the step is pending after pending, found nothing", s.Name)
		}
		if s.Pending != "" {
			return p.errorf("step %s: expected one pending line, found a second", s.Name)
		}
		s.Pending = rest
	case "run":
		if len(s.Argv) > 0 {
			return p.errorf("step %s: expected one run line, found a second", s.Name)
		}
		if len(args) == 0 {
			return p.errorf("step %s: expected a command after run, found nothing", s.Name)
		}
		s.Argv = args
	case "dir":
		if len(args) != 1 {
			return p.errorf("step %s: expected `dir PATH`, found %q", s.Name, rest)
		}
		d, err := p.rootPath("a directory", args[0])
		if err != nil && path.Clean("/"+args[0]) != "/" {
			return err
		}
		s.Dir = "/" + d
	case "env":
		if len(args) != 1 || !envRE.MatchString(args[0]) {
			return p.errorf("step %s: expected `env NAME=VALUE` (no blanks), found %q", s.Name, rest)
		}
		s.Env = append(s.Env, args[0])
	case "uses":
		if len(args) == 0 {
			return p.errorf("step %s: expected source names after uses, found nothing", s.Name)
		}
		for _, u := range args {
			if _, ok := p.c.Source(u); !ok {
				return p.errorf("step %s: expected a source declared above, found unknown source %q", s.Name, u)
			}
			if slices.Contains(s.Uses, u) {
				return p.errorf("step %s: expected each source once in uses, found %s again", s.Name, u)
			}
			s.Uses = append(s.Uses, u)
		}
	case "outputs":
		if len(args) == 0 {
			return p.errorf("step %s: expected hash lists after outputs, found nothing", s.Name)
		}
		for _, l := range args {
			pins, err := p.hashList(l)
			if err != nil {
				return err
			}
			for _, f := range SortedPaths(pins) {
				if _, dup := s.Outputs[f]; dup {
					return p.errorf("step %s: expected each output once, found %s again in %s", s.Name, f, l)
				}
				for _, sd := range p.c.Seeds {
					if f == sd.Path || f == sd.Source {
						return p.errorf("step %s: expected outputs apart from the seeds, found seed path %s in %s", s.Name, f, l)
					}
				}
				s.Outputs[f] = pins[f]
			}
			s.OutputsList = append(s.OutputsList, l)
		}
	case "derive", "strict":
		if len(args) != 0 {
			return p.errorf("step %s: expected `%s` alone, found %q", s.Name, key, rest)
		}
		if key == "derive" {
			s.Derive = true
		} else {
			s.Strict = true
		}
	case "timeout":
		d, err := time.ParseDuration(rest)
		if len(args) != 1 || err != nil || d <= 0 {
			return p.errorf("step %s: expected a positive duration after timeout (e.g. 10m), found %q", s.Name, rest)
		}
		s.Timeout = d
	default:
		return p.errorf("step %s: expected a step directive (describe, run, dir, env, uses, outputs, derive, strict, timeout, pending), found %q", s.Name, key)
	}
	return nil
}

// endBlock validates the block being closed.
func (p *parser) endBlock() error {
	block := p.block
	p.block = ""
	switch block {
	case "source":
		s := p.src
		if len(s.URLs) == 0 && s.Local == nil {
			return p.blockErr("source %s: expected `url URL` or `local DIR`, found neither", s.Name)
		}
		if s.Place != "" {
			if s.Local != nil {
				return p.blockErr("source %s: expected url with place (a local source is a set of files, not an archive), found local", s.Name)
			}
			if s.ArchiveSHA256 == "" {
				return p.blockErr("source %s: expected `archive-sha256 HASH` with place (the archive is the pinned file), found none", s.Name)
			}
			if s.At != "" {
				return p.blockErr("source %s: expected at with files (place already says where the archive goes), found it with place", s.Name)
			}
			if s.SizesList != "" {
				return p.blockErr("source %s: expected archive-size with place (the archive is the one pinned file), found sizes", s.Name)
			}
			s.Files = map[string]string{s.Place: s.ArchiveSHA256}
			if s.ArchiveSize > 0 {
				s.Sizes = map[string]int64{s.Place: s.ArchiveSize}
			}
			return nil
		}
		if s.FilesList == "" {
			return p.blockErr("source %s: expected `files LIST.sha256` (per-file pins) or `place PATH` (the archive itself), found neither", s.Name)
		}
		if s.SizesList != "" {
			for f := range s.Files {
				if _, ok := s.Sizes[f]; !ok {
					return p.blockErr("source %s: expected a size for every pinned file in %s/%s, found none for %s", s.Name, p.dir, s.SizesList, f)
				}
			}
			for f := range s.Sizes {
				if _, ok := s.Files[f]; !ok {
					return p.blockErr("source %s: expected in %s/%s only files %s pins, found %s", s.Name, p.dir, s.SizesList, s.FilesList, f)
				}
			}
		}
	case "step":
		s := p.step
		if s.Pending != "" {
			if len(s.Argv) > 0 {
				return p.blockErr("step %s: expected either run or pending, found both", s.Name)
			}
			for o := range s.Outputs {
				p.outputs[o] = true
			}
			if len(s.Outputs) == 0 {
				p.unpinnedBefore = true
			}
			return nil
		}
		if len(s.Argv) == 0 {
			return p.blockErr("step %s: expected `run PROGRAM ARGS...` (or, after `section unverified`, `pending WHY`), found none", s.Name)
		}
		if len(s.Outputs) == 0 && !s.Unverified {
			return p.blockErr("step %s: expected `outputs LIST.sha256` with at least one pinned file (only a step after `section unverified` may have none), found none", s.Name)
		}
		if len(s.Outputs) == 0 && s.Strict {
			return p.blockErr("step %s: expected `outputs LIST.sha256` with strict (strict refuses files the pins do not name), found none", s.Name)
		}
		prog := s.Argv[0]
		if !strings.HasPrefix(prog, "/") {
			prog = path.Join(s.Dir, prog)
		}
		prog = strings.TrimPrefix(path.Clean("/"+prog), "/")
		ok := p.outputs[prog] || (s.Unverified && p.unpinnedBefore)
		for _, sd := range p.c.Seeds {
			ok = ok || sd.Path == prog
		}
		if !ok {
			return p.blockErr("step %s: expected the program %s (from dir %s) to be a seed or an output of an earlier step, found neither", s.Name, s.Argv[0], s.Dir)
		}
		for o := range s.Outputs {
			p.outputs[o] = true
		}
		if len(s.Outputs) == 0 {
			p.unpinnedBefore = true
		}
	}
	return nil
}

func (p *parser) blockErr(format string, args ...any) error {
	return fmt.Errorf("%s line %d: %s", p.file, p.blockLine, fmt.Sprintf(format, args...))
}

// hashList reads a sha256sum-format list from the chain directory.
func (p *parser) hashList(name string) (map[string]string, error) {
	if _, err := p.rootPath("a hash list in the chain directory", name); err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(p.fsys, path.Clean(name))
	var nr *verify.NotRegularError
	if errors.As(err, &nr) {
		return nil, p.errorf("expected hash list %s/%s to be a regular file, found %s", p.dir, name, verify.KindOf(nr.Mode))
	}
	if err != nil {
		return nil, p.errorf("expected hash list %s/%s, found none (%v)", p.dir, name, errText(err))
	}
	pins, err := ParseHashList(b)
	if err != nil {
		return nil, fmt.Errorf("%s/%s %w", p.dir, name, err)
	}
	if len(pins) == 0 {
		return nil, p.errorf("expected pinned files in hash list %s/%s, found an empty list", p.dir, name)
	}
	return pins, nil
}

// sizeList reads a size list from the chain directory: one
// "<decimal size>  <path>" line per pinned file.
func (p *parser) sizeList(name string) (map[string]int64, error) {
	if _, err := p.rootPath("a size list in the chain directory", name); err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(p.fsys, path.Clean(name))
	if err != nil {
		return nil, p.errorf("expected size list %s/%s, found none (%v)", p.dir, name, errText(err))
	}
	sizes, err := ParseSizeList(b)
	if err != nil {
		return nil, fmt.Errorf("%s/%s %w", p.dir, name, err)
	}
	return sizes, nil
}

// ParseSizeList parses a size list: one "<size in bytes>  <path>" line per
// file, paths as in a hash list. Errors start with "line N:".
func ParseSizeList(b []byte) (map[string]int64, error) {
	sizes := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		num, f, ok := strings.Cut(l, "  ")
		size, err := strconv.ParseInt(num, 10, 64)
		c := path.Clean(f)
		if !ok || err != nil || size < 0 || num != strconv.FormatInt(size, 10) ||
			f == "" || c != f || strings.HasPrefix(f, "/") || c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsAny(f, "\\\x00") {
			return nil, fmt.Errorf("line %d: expected \"<size in bytes>  <clean relative path>\", found %q", n, l)
		}
		if _, dup := sizes[f]; dup {
			return nil, fmt.Errorf("line %d: expected each path once, found %s again", n, f)
		}
		sizes[f] = size
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return sizes, nil
}

func errText(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// ParseHashList parses a list in sha256sum format: one "<64 hex>  <path>"
// line per file (or "<64 hex> *<path>"), paths relative and clean. Errors
// start with "line N:".
func ParseHashList(b []byte) (map[string]string, error) {
	pins := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		bad := func(why string) error {
			return fmt.Errorf("line %d: expected \"<64 hex>  <path>\"%s, found %q", n, why, l)
		}
		if len(l) < 67 || !hashRE.MatchString(l[:64]) || (l[64:66] != "  " && l[64:66] != " *") {
			return nil, bad("")
		}
		f := l[66:]
		c := path.Clean(f)
		if f == "" || c != f || strings.HasPrefix(f, "/") || c == "." || strings.HasPrefix(c, "../") || c == ".." || strings.ContainsAny(f, "\\\x00") {
			return nil, bad(" with a clean relative path")
		}
		if _, dup := pins[f]; dup {
			return nil, fmt.Errorf("line %d: expected each path once, found %s again", n, f)
		}
		pins[f] = l[:64]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return pins, nil
}
