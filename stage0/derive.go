package stage0

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/bootchain/bootchain/hex0"
)

// The tools Derive knows, by the names IdentifyTool returns.
const (
	ToolHex0     = "hex0"      // hex0 IN OUT
	ToolHex1     = "hex1"      // hex1 IN OUT
	ToolHex2Seed = "hex2-0"    // hex2-0 IN OUT (the hand-written hex2)
	ToolCatm     = "catm"      // catm OUT IN...
	ToolM0       = "M0"        // M0 IN OUT
	ToolM1       = "M1"        // M1 --architecture A --little-endian -f IN... -o OUT
	ToolHex2     = "hex2"      // hex2 --architecture A --little-endian --base-address B -f IN... -o OUT
	ToolBloodElf = "blood-elf" // blood-elf [--64] --little-endian -f IN... -o OUT
)

// IdentifyTool maps a program as a stage0-posix kaem script names it
// ("./x86/artifact/hex2-0", "./AMD64/bin/M1", "./bootstrap-seeds/POSIX/x86/hex0-seed")
// to the tool it is and the architecture it was built for. ok is false for
// programs Derive cannot re-derive the output of (compilers, kaem, the
// mescc-tools-extra utilities).
func IdentifyTool(program string) (tool string, arch Arch, ok bool) {
	for _, dir := range strings.Split(path.Dir(program), "/") {
		if a, err := ParseArch(dir); err == nil {
			arch = a
		}
	}
	switch path.Base(program) {
	case "hex0", "hex0-seed":
		tool = ToolHex0
	case "hex1":
		tool = ToolHex1
	case "hex2-0":
		tool = ToolHex2Seed
	case "catm":
		tool = ToolCatm
	case "M0":
		tool = ToolM0
	case "M1", "M1-0":
		tool = ToolM1
	case "hex2", "hex2-1":
		tool = ToolHex2
	case "blood-elf", "blood-elf-0":
		tool = ToolBloodElf
	default:
		return "", "", false
	}
	return tool, arch, true
}

// Command is one parsed invocation of a stage0 tool.
type Command struct {
	Tool   string   // one of the Tool constants
	Arch   Arch     // the target architecture
	Inputs []string // input paths, in order
	Output string   // output path

	BigEndian   bool     // M1, hex2, blood-elf: --big-endian (or no endianness flag, for M1 and hex2)
	BaseAddress uint64   // hex2: --base-address
	Bits64      bool     // blood-elf: --64
	Entries     []string // blood-elf: --entry names
}

// ParseCommand parses the arguments (without the program name) of tool as a
// kaem script passes them. arch is the architecture of the hand-written
// tools (hex1, hex2-0, M0), which have it built in; M1 and hex2 take theirs
// from --architecture. Options the twins do not implement (octal or binary
// output, other architectures) are errors.
func ParseCommand(tool string, arch Arch, args []string) (Command, error) {
	c := Command{Tool: tool, Arch: arch}
	bad := func(format string, a ...any) (Command, error) {
		return Command{}, fmt.Errorf("stage0: %s %s: %s", tool, strings.Join(args, " "), fmt.Sprintf(format, a...))
	}
	switch tool {
	case ToolHex0, ToolHex1, ToolHex2Seed, ToolM0:
		if len(args) != 2 {
			return bad("expected IN OUT, found %d arguments", len(args))
		}
		c.Inputs, c.Output = args[:1], args[1]
		if tool != ToolHex0 {
			if err := arch.check(tool); err != nil {
				return Command{}, err
			}
		}
		return c, nil
	case ToolCatm:
		if len(args) < 1 {
			return bad("expected OUT IN..., found no arguments")
		}
		c.Output, c.Inputs = args[0], args[1:]
		return c, nil
	case ToolM1, ToolHex2, ToolBloodElf:
	default:
		return bad("unknown tool")
	}

	c.Arch, c.BigEndian = "", true // upstream's defaults: knight, big-endian
	endianSet := false
	base := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			return args[i], true
		}
		switch {
		case a == "--little-endian", a == "--big-endian":
			c.BigEndian, endianSet = a == "--big-endian", true
		case a == "-f" || a == "--file":
			v, ok := value()
			if !ok {
				return bad("%s needs a file", a)
			}
			c.Inputs = append(c.Inputs, v)
		case a == "-o" || a == "--output":
			v, ok := value()
			if !ok {
				return bad("%s needs a file", a)
			}
			c.Output = v
		case tool != ToolBloodElf && (a == "-A" || a == "--architecture"):
			v, ok := value()
			if !ok {
				return bad("%s needs a value", a)
			}
			if v != string(X86) && v != string(AMD64) {
				return bad("architecture %q: the twins implement x86 and amd64", v)
			}
			c.Arch = Arch(v)
		case tool == ToolHex2 && (a == "-B" || a == "--base-address"):
			v, ok := value()
			if !ok {
				return bad("%s needs a value", a)
			}
			base = v
		case tool == ToolHex2 && a == "--non-executable":
		case tool == ToolBloodElf && a == "--64":
			c.Bits64 = true
		case tool == ToolBloodElf && (a == "-X" || a == "--hex"):
		case tool == ToolBloodElf && a == "--entry":
			v, ok := value()
			if !ok {
				return bad("%s needs a name", a)
			}
			c.Entries = append(c.Entries, v)
		default:
			return bad("option %q is not implemented by the twins", a)
		}
	}
	switch {
	case len(c.Inputs) == 0:
		return bad("no input files")
	case c.Output == "":
		return bad("no output file: the twins do not write to stdout")
	case tool == ToolBloodElf && !endianSet:
		return bad("either --little-endian or --big-endian must be set")
	case tool == ToolBloodElf:
		c.Arch = arch
	case c.Arch == "":
		return bad("no --architecture: upstream would assume knight, which the twins do not implement")
	}
	if base != "" {
		c.BaseAddress = uint64(strtoint(base, c.Arch))
		if c.Arch == X86 {
			c.BaseAddress &= 0xFFFFFFFF
		}
	}
	return c, nil
}

// Run computes the command's output, reading its inputs with readFile.
func (c Command) Run(readFile func(name string) ([]byte, error)) ([]byte, error) {
	var files []File
	for _, name := range c.Inputs {
		data, err := readFile(name)
		if err != nil {
			return nil, fmt.Errorf("stage0: %s: input %s: %w", c.Tool, name, err)
		}
		files = append(files, File{Name: name, Data: data})
	}
	var (
		out []byte
		err error
	)
	switch c.Tool {
	case ToolHex0:
		out, err = hex0.AssembleLenient(bytes.NewReader(files[0].Data))
	case ToolHex1:
		out, err = Hex1(files[0].Data, c.Arch)
	case ToolHex2Seed:
		out, err = Hex2Seed(files[0].Data, c.Arch)
	case ToolM0:
		out, err = M0(files[0].Data, c.Arch)
	case ToolCatm:
		parts := make([][]byte, len(files))
		for i, f := range files {
			parts[i] = f.Data
		}
		out = Catm(parts...)
	case ToolM1:
		out, err = M1Files(files, M1Options{Arch: c.Arch, BigEndian: c.BigEndian})
	case ToolHex2:
		out, err = Hex2Files(files, Hex2Options{Arch: c.Arch, BaseAddress: c.BaseAddress, BigEndian: c.BigEndian})
	case ToolBloodElf:
		out, err = BloodElf(files, BloodElfOptions{Bits64: c.Bits64, BigEndian: c.BigEndian, Entries: c.Entries})
	default:
		return nil, fmt.Errorf("stage0: unknown tool %q", c.Tool)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.File == "" && len(files) == 1 {
			e.File = files[0].Name
		}
		return nil, fmt.Errorf("stage0: %s -> %s: %w", c.Tool, c.Output, err)
	}
	return out, nil
}

// Derive re-derives the output of one stage0 tool invocation: tool is one of
// the Tool constants (see IdentifyTool), arch the architecture the
// hand-written tools were built for, args the command line after the program
// name. It returns the bytes the tool writes to its output file.
func Derive(tool string, arch Arch, args []string, readFile func(name string) ([]byte, error)) ([]byte, error) {
	c, err := ParseCommand(tool, arch, args)
	if err != nil {
		return nil, err
	}
	return c.Run(readFile)
}
