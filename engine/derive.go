package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/stage0"
)

// derivation is what the Go twins say about one file a step wrote.
type derivation struct {
	sha256  string
	command string // the invocation that wrote it last
}

// derive re-derives, with the Go twins of package stage0, the output of
// every stage0 tool invocation of a `derive` step: the step's own command
// when its program is a stage0 tool, else each command of the kaem script
// it runs (`run KAEM SCRIPT`, kaem-minimal's dialect). Inputs are read from
// the twins' own earlier outputs first, then from the root the step left.
// Commands of programs without a twin (compilers, kaem) are passed over.
// It returns the derived SHA-256 of each file, by root-relative path.
func derive(st chain.Step, arch string, root string) (map[string]derivation, error) {
	cmds, err := stepCommands(st, root)
	if err != nil {
		return nil, err
	}
	derived := map[string][]byte{}
	last := map[string]string{}
	inRoot := func(name string) string {
		if !strings.HasPrefix(name, "/") {
			name = path.Join(st.Dir, name)
		}
		return strings.TrimPrefix(path.Clean("/"+name), "/")
	}
	readFile := func(name string) ([]byte, error) {
		p := inRoot(name)
		if b, ok := derived[p]; ok {
			return b, nil
		}
		return os.ReadFile(hostPath(root, p))
	}
	for _, argv := range cmds {
		tool, toolArch, ok := stage0.IdentifyTool(argv[0])
		if !ok {
			continue
		}
		if toolArch == "" {
			toolArch = stage0.Arch(arch)
		}
		c, err := stage0.ParseCommand(tool, toolArch, argv[1:])
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", strings.Join(argv, " "), err)
		}
		out, err := c.Run(readFile)
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", strings.Join(argv, " "), err)
		}
		p := inRoot(c.Output)
		derived[p] = out
		last[p] = strings.Join(argv, " ")
	}
	res := map[string]derivation{}
	for p, b := range derived {
		sum := sha256.Sum256(b)
		res[p] = derivation{hex.EncodeToString(sum[:]), last[p]}
	}
	return res, nil
}

// stepCommands returns the commands a step runs, as far as bootchain can
// tell without running it.
func stepCommands(st chain.Step, root string) ([][]string, error) {
	if _, _, ok := stage0.IdentifyTool(st.Argv[0]); ok {
		return [][]string{st.Argv}, nil
	}
	if len(st.Argv) != 2 {
		return nil, fmt.Errorf("derive: expected the step to run a stage0 tool or `KAEM SCRIPT`, found %q", strings.Join(st.Argv, " "))
	}
	script := st.Argv[1]
	if !strings.HasPrefix(script, "/") {
		script = path.Join(st.Dir, script)
	}
	b, err := os.ReadFile(hostPath(root, strings.TrimPrefix(path.Clean("/"+script), "/")))
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
