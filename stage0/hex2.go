package stage0

import "fmt"

// hex2 is hex1 with long labels. A label ":name" or a pointer "%name" runs
// to the next space, tab, '\n' or '>' (or the end of the input); the
// terminator is consumed. Pointers, by prefix:
//
//	!  1-byte displacement      @  2-byte displacement   ~  3-byte displacement
//	%  4-byte displacement      $  2-byte address        &  4-byte address
//
// A displacement is the target minus the address after the pointer's own
// bytes, unless the pointer is written "%name>base", which makes it the
// target minus label base. Hex digits pair into bytes, '#' and ';' start a
// comment ending at '\n' or '\r', and every other byte is ignored. When a
// label is defined twice the last definition wins.
//
// The mescc-tools hex2 (Hex2) additionally range-checks 1-, 2- and 3-byte
// values, takes '<' (pad to a word boundary) and '^' (word-aligned
// displacement), both of which do nothing on x86 and amd64, and starts each
// input file with no pending digit. The hand-written hex2-0 (Hex2Seed) knows
// only ! @ $ % &, writes truncated values without checking them, starts at a
// fixed address (0x8048000 on x86, 0x600000 on amd64), and in its first pass
// advances the address at the first digit of a pair, as hex1 does.

// Hex2Options selects how Hex2 links.
type Hex2Options struct {
	Arch        Arch   // X86 or AMD64
	BaseAddress uint64 // address of the first byte (--base-address)
	BigEndian   bool   // write pointers most significant byte first (--big-endian)
}

// Hex2 links hex2 source as mescc-tools hex2 1.7.0 does.
func Hex2(src []byte, opts Hex2Options) ([]byte, error) {
	return Hex2Files([]File{{Data: src}}, opts)
}

// maxToken is the longest label or pointer name mescc-tools accepts
// (its max_string is 4096, including the terminating NUL).
const maxToken = 4095

// Hex2Files links several inputs, in order, as one program, the way
// mescc-tools hex2 does when given several -f options.
func Hex2Files(files []File, opts Hex2Options) ([]byte, error) {
	const tool = "hex2"
	if err := opts.Arch.check(tool); err != nil {
		return nil, err
	}
	labels := map[string]int64{}
	pass := func(write bool) ([]byte, error) {
		var out []byte
		ip := int64(opts.BaseAddress)
		for _, f := range files {
			src := f.Data
			first, hold := true, 0
			pos := 0
			for pos < len(src) {
				at := pos
				c := src[pos]
				pos++
				switch c {
				case ':':
					name, _, next, err := cToken(tool, f, pos, at)
					if err != nil {
						return nil, err
					}
					pos = next
					if !write {
						labels[name] = ip
					}
				case '!', '@', '$', '~', '%', '&':
					size := pointerSize(c)
					ip += int64(size)
					name, term, next, err := cToken(tool, f, pos, at)
					if err != nil {
						return nil, err
					}
					pos = next
					baseName, hasBase := "", term == '>'
					if hasBase {
						if baseName, _, pos, err = cToken(tool, f, pos, at); err != nil {
							return nil, err
						}
					}
					if !write {
						continue
					}
					target, ok := labels[name]
					if !ok {
						return nil, errAt(tool, f, at, "target label %q is not defined", name)
					}
					base := ip
					if hasBase {
						if base, ok = labels[baseName]; !ok {
							return nil, errAt(tool, f, at, "base label %q is not defined", baseName)
						}
					}
					value := target - base
					absolute := c == '$' || c == '&'
					if absolute {
						value = target
					}
					if opts.Arch == X86 {
						value = int64(int32(value)) // hex2 for x86 computes in 32-bit ints
					}
					if err := rangeCheck(value, size, absolute); err != nil {
						return nil, errAt(tool, f, at, "%c%s: %v", c, name, err)
					}
					if opts.BigEndian {
						out = putBE(out, uint64(value), size)
					} else {
						out = putLE(out, uint64(value), size)
					}
				case '<', '^':
					// Alignment only matters on ARM, AArch64 and RISC-V.
				case '#', ';':
					pos = skipCommentOrEOF(src, pos)
				default:
					v := nibble(c)
					if v < 0 {
						continue
					}
					if first {
						hold = v
					} else {
						if write {
							out = append(out, byte(hold<<4|v))
						}
						ip++
						hold = 0
					}
					first = !first
				}
			}
		}
		return out, nil
	}
	if _, err := pass(false); err != nil {
		return nil, err
	}
	return pass(true)
}

func pointerSize(c byte) int {
	switch c {
	case '!':
		return 1
	case '@', '$':
		return 2
	case '~':
		return 3
	}
	return 4
}

// rangeCheck applies mescc-tools hex2's limits: signed for displacements,
// unsigned for addresses, none for 4 bytes.
func rangeCheck(v int64, size int, absolute bool) error {
	if size == 4 {
		return nil
	}
	bits := uint(8 * size)
	lo, hi := -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
	kind := "relative displacement"
	if absolute {
		lo, hi = 0, int64(1)<<bits-1
		kind = "absolute address"
	}
	if v < lo || v > hi {
		return fmt.Errorf("%s %d does not fit in %d byte(s)", kind, v, size)
	}
	return nil
}

// cToken reads a label or pointer name starting at pos as mescc-tools does:
// up to a space, tab, '\n' or '>', which is consumed and returned as term
// (-1 at the end of the input). An empty input gives the name "\xff": the C
// tool stores the EOF marker as a character.
func cToken(tool string, f File, pos, at int) (name string, term int, next int, err error) {
	src := f.Data
	if pos >= len(src) {
		return "\xff", -1, pos, nil
	}
	start := pos
	for pos < len(src) {
		switch src[pos] {
		case ' ', '\t', '\n', '>':
			name, term = string(src[start:pos]), int(src[pos])
			if err := checkName(tool, f, at, name); err != nil {
				return "", 0, 0, err
			}
			return name, term, pos + 1, nil
		}
		pos++
	}
	name = string(src[start:pos])
	return name, -1, pos, checkName(tool, f, at, name)
}

func checkName(tool string, f File, at int, name string) error {
	if len(name) > maxToken {
		return errAt(tool, f, at, "name of %d bytes exceeds the %d-byte limit", len(name), maxToken)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return undefinedAt(tool, f, at, "NUL byte in a label name: the C tool would misread the names after it")
		}
	}
	return nil
}

// skipCommentOrEOF returns the offset after the '\n' or '\r' that ends the
// comment whose body starts at pos, or the end of src.
func skipCommentOrEOF(src []byte, pos int) int {
	if end := skipComment(src, pos); end >= 0 {
		return end
	}
	return len(src)
}

// SeedBaseAddress is the address hex2-0 for arch loads its output at.
func SeedBaseAddress(arch Arch) uint64 {
	if arch == AMD64 {
		return 0x600000
	}
	return 0x8048000
}

// Hex2Seed links hex2 source as the hand-written stage0-posix hex2-0 for
// arch (hex2_x86.hex1, hex2_AMD64.hex1) does.
//
// Where hex2-0 would never terminate — a comment, label or pointer name that
// runs into the end of the input — Hex2Seed returns an error.
func Hex2Seed(src []byte, arch Arch) ([]byte, error) {
	const tool = "hex2-0"
	if err := arch.check(tool); err != nil {
		return nil, err
	}
	f := File{Data: src}
	var labels map[string]int64
	pass := func(write bool) ([]byte, error) {
		var out []byte
		ip := int64(SeedBaseAddress(arch))
		first, hold := true, 0
		pos := 0
		for pos < len(src) {
			at := pos
			c := src[pos]
			pos++
			switch c {
			case ':':
				name, _, next, err := seedToken(f, pos, at)
				if err != nil {
					return nil, err
				}
				pos = next
				if !write {
					labels[name] = ip
				}
			case '!', '@', '$', '%', '&':
				size := pointerSize(c)
				ip += int64(size)
				name, term, next, err := seedToken(f, pos, at)
				if err != nil {
					return nil, err
				}
				pos = next
				baseName, hasBase := "", term == '>'
				if hasBase {
					if baseName, _, pos, err = seedToken(f, pos, at); err != nil {
						return nil, err
					}
				}
				if !write {
					continue
				}
				target, ok := labels[name]
				if !ok {
					return nil, errAt(tool, f, at, "target label %q is not defined", name)
				}
				base := ip
				if hasBase {
					if base, ok = labels[baseName]; !ok {
						return nil, errAt(tool, f, at, "base label %q is not defined", baseName)
					}
				}
				value := target - base
				if c == '$' || c == '&' {
					value = target
				}
				out = putLE(out, uint64(value), size)
			case '#', ';':
				end := skipComment(src, pos)
				if end < 0 {
					return nil, errAt(tool, f, at, "comment runs into the end of the input: hex2-0 reads on forever without a line end")
				}
				pos = end
			default:
				v := nibble(c)
				if v < 0 {
					continue
				}
				switch {
				case !write && first:
					ip++
				case write && first:
					hold = v
				case write:
					out = append(out, byte(hold<<4|v))
					ip++
				}
				first = !first
			}
		}
		return out, nil
	}
	labels = map[string]int64{}
	if _, err := pass(false); err != nil {
		return nil, err
	}
	return pass(true)
}

// seedToken reads a name as hex2-0 does: up to a space, tab, '\n' or '>',
// which is consumed. A NUL byte ends the name as hex2-0 compares it.
func seedToken(f File, pos, at int) (name string, term int, next int, err error) {
	src := f.Data
	start := pos
	for pos < len(src) {
		switch src[pos] {
		case ' ', '\t', '\n', '>':
			name = string(src[start:pos])
			for i := 0; i < len(name); i++ {
				if name[i] == 0 {
					name = name[:i]
					break
				}
			}
			return name, int(src[pos]), pos + 1, nil
		}
		pos++
	}
	return "", 0, 0, errAt("hex2-0", f, at, "name runs into the end of the input: hex2-0 reads on forever without a space, tab, line end or '>'")
}
