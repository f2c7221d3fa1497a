package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/stage0"
	"github.com/bootchain/bootchain/verify"
)

// derivation is what the Go twins say about one file a step wrote.
type derivation struct {
	sha256  string // empty when only planned
	data    []byte // nil when only planned
	command string // the invocation that wrote it last
	// given lists the files the derivation rests on that no twin wrote:
	// outputs of programs without a twin (compilers), taken from a run.
	// Empty means the file follows from seeds and pinned sources alone.
	given []string
}

// unavailableError is a file a derivation would read but may not: its
// bytes are not at hand, or nothing vouches for them.
type unavailableError struct {
	path string // the root cause: the first file that was not at hand
	why  string
}

func (e *unavailableError) Error() string { return e.path + ": " + e.why }

// fileSource supplies a file (root-relative path) that a step's derivation
// reads and the twins did not write in this step: its bytes (nil when
// only planning) and the files of a run it rests on. A file it may not
// supply is an *unavailableError; any other error stops the derivation.
type fileSource func(p string) (data []byte, given []string, err error)

// stepDerivation is what deriveCommands found for one step.
type stepDerivation struct {
	derived map[string]derivation
	// missing holds the files twin commands would have written but could
	// not, with the root cause.
	missing map[string]*unavailableError
	// writers names, for files mentioned by programs without a twin, the
	// last such program (to say who wrote a file the twins cannot derive).
	writers map[string]string
}

// deriveCommands re-derives, with the Go twins of package stage0, the
// output of every stage0 tool invocation among cmds (the commands of step
// st, see stepCommands), in order. Inputs come from the twins' own earlier
// outputs in the step first, else from src. Commands of programs without
// a twin (compilers, kaem) are passed over; a twin command whose input is
// unavailable is recorded in missing. When compute is false nothing is
// assembled: only what would be derived, and from what, is worked out.
func deriveCommands(st chain.Step, arch string, cmds [][]string, src fileSource, compute bool) (*stepDerivation, error) {
	sd := &stepDerivation{derived: map[string]derivation{}, missing: map[string]*unavailableError{}, writers: map[string]string{}}
	for _, argv := range cmds {
		line := strings.Join(argv, " ")
		tool, toolArch, ok := stage0.IdentifyTool(argv[0])
		if !ok {
			for _, a := range argv[1:] {
				if !strings.HasPrefix(a, "-") {
					sd.writers[inRoot(st, a)] = argv[0]
				}
			}
			continue
		}
		if toolArch == "" {
			toolArch = stage0.Arch(arch)
		}
		c, err := stage0.ParseCommand(tool, toolArch, argv[1:])
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", line, err)
		}
		out := inRoot(st, c.Output)
		data := map[string][]byte{}
		var given []string
		var missing *unavailableError
		for _, name := range c.Inputs {
			p := inRoot(st, name)
			if d, ok := sd.derived[p]; ok {
				data[name], given = d.data, union(given, d.given)
				continue
			}
			if m, ok := sd.missing[p]; ok {
				missing = m
				break
			}
			b, g, err := src(p)
			var ue *unavailableError
			if errors.As(err, &ue) {
				missing = ue
				break
			}
			if err != nil {
				return nil, fmt.Errorf("derive %s: input %s: %w", line, name, err)
			}
			data[name], given = b, union(given, g)
		}
		if missing != nil {
			delete(sd.derived, out)
			sd.missing[out] = missing
			continue
		}
		delete(sd.missing, out)
		d := derivation{command: line, given: given}
		if compute {
			b, err := c.Run(func(name string) ([]byte, error) { return data[name], nil })
			if err != nil {
				return nil, fmt.Errorf("derive %s: %w", line, err)
			}
			sum := sha256.Sum256(b)
			d.data, d.sha256 = b, hex.EncodeToString(sum[:])
		}
		sd.derived[out] = d
	}
	return sd, nil
}

// inRoot returns the root-relative path of name as step st's commands
// name it (relative to the step's directory, or absolute in the root).
func inRoot(st chain.Step, name string) string {
	if !strings.HasPrefix(name, "/") {
		name = path.Join(st.Dir, name)
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// union returns the sorted union of a and b.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	m := map[string]bool{}
	for _, s := range append(append([]string(nil), a...), b...) {
		m[s] = true
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// derive re-derives, during a run, the output of every stage0 tool
// invocation of a `derive` step: the step's own command when its program
// is a stage0 tool, else each command of the kaem script it runs (`run
// KAEM SCRIPT`, kaem-minimal's dialect). Inputs are read from the twins'
// own earlier outputs first, then from the root the step left (which
// holds the outputs of the programs without a twin too). It returns the
// derived SHA-256 of each file, by root-relative path.
func derive(st chain.Step, arch string, root string) (map[string]derivation, error) {
	read := func(p string) ([]byte, error) { return verify.ReadRegular(hostPath(root, p), 0) }
	cmds, err := stepCommands(st, read)
	if err != nil {
		return nil, err
	}
	sd, err := deriveCommands(st, arch, cmds, func(p string) ([]byte, []string, error) {
		b, err := read(p)
		return b, nil, err
	}, true)
	if err != nil {
		return nil, err
	}
	return sd.derived, nil
}

// deriveOutputs checks the outputs of a `derive` step in the root it left
// (or the tree holding its cached outputs) against the Go twins, and marks
// the ones they re-derive in rep. A disagreement is an error.
func (r *run) deriveOutputs(st chain.Step, root string, rep *verify.StepReport) error {
	if !st.Derive || st.Unverified {
		return nil
	}
	ds, err := derive(st, r.c.Arch, root)
	if err != nil {
		return fmt.Errorf("step %s: %w", st.Name, err)
	}
	n := 0
	for i, o := range rep.Outputs {
		d, ok := ds[o.Path]
		if !ok {
			continue
		}
		if d.sha256 != o.SHA256 {
			return fmt.Errorf("step %s: %s: sha256 is %s, but the Go twins derive %s from `%s`; one of the two implementations is wrong", st.Name, o.Path, o.SHA256, d.sha256, d.command)
		}
		rep.Outputs[i].Derived = true
		n++
	}
	r.log.WithField("step", st.Name).WithField("derived", n).Info("outputs re-derived by the Go twins")
	return nil
}

// stepCommands returns the commands a step runs, as far as bootchain can
// tell without running it; read supplies the script.
func stepCommands(st chain.Step, read func(p string) ([]byte, error)) ([][]string, error) {
	if _, _, ok := stage0.IdentifyTool(st.Argv[0]); ok {
		return [][]string{st.Argv}, nil
	}
	if len(st.Argv) != 2 {
		return nil, fmt.Errorf("derive: expected the step to run a stage0 tool or `KAEM SCRIPT`, found %q", strings.Join(st.Argv, " "))
	}
	b, err := read(inRoot(st, st.Argv[1]))
	if err != nil {
		return nil, fmt.Errorf("derive: script: %w", err)
	}
	return kaemCommands(b), nil
}

// kaemCommands splits a script in kaem-minimal's dialect into commands: a
// `#` starts a comment to the end of the line, a line ending in `\`
// continues on the next, and words are separated by blanks and tabs.
func kaemCommands(script []byte) [][]string {
	var cmds [][]string
	var cur []string
	for _, line := range bytes.Split(script, []byte("\n")) {
		l := strings.TrimRight(string(line), " \t\r")
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		cont := strings.HasSuffix(l, "\\")
		l = strings.TrimSuffix(l, "\\")
		cur = append(cur, strings.Fields(l)...)
		if !cont && len(cur) > 0 {
			cmds = append(cmds, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds
}
