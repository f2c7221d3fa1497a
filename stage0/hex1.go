package stage0

// hex1 is hex0 plus one-character labels, as the stage0-posix hex1 tools
// (hex1_x86.hex0, hex1_AMD64.hex0) implement it:
//
//	:c   defines label c (any byte) at the current address
//	%c   writes the 4-byte little-endian displacement to label c, relative
//	     to the end of the displacement (the address after its 4 bytes)
//
// Hex digits of either case form bytes in pairs, '#' and ';' start a comment
// that ends at '\n' or '\r', and every other byte is ignored. Addresses start
// at 0. The tools know no other pointer prefix: '!', '@', '$' and '&' are
// ignored like any other non-digit.
//
// Two quirks of the tools are reproduced because they change the output of
// sources that upstream accepts:
//   - in the first pass the address advances at the first digit of a pair,
//     in the second pass at the second, so a label between the two digits
//     of a byte lands one byte later than the byte;
//   - the amd64 tool compares only the low byte of what it read with its EOF
//     marker (-4), so a 0xFC byte outside a comment or label ends its input.
//
// Where the tools hang or read memory they never wrote, Hex1 returns an
// error: a comment without a line end before the end of the input, ':' or
// '%' as the last byte, a label that is used but never defined (the tools
// silently use address 0), and the label character NUL (whose slot the tools
// share with their read buffer).

// Hex1 assembles hex1 source for arch as the stage0-posix hex1 tool for arch
// does.
func Hex1(src []byte, arch Arch) ([]byte, error) {
	const tool = "hex1"
	if err := arch.check(tool); err != nil {
		return nil, err
	}
	f := File{Data: src}
	var (
		labels  [256]int64
		defined [256]bool
	)
	pass := func(write bool) ([]byte, error) {
		var (
			out   []byte
			ip    int64
			first = true // the next digit is the high nibble
			hold  int
		)
		pos := 0
		for pos < len(src) && !(arch == AMD64 && src[pos] == 0xFC) {
			at := pos
			c := src[pos]
			pos++
			switch c {
			case ':', '%':
				if pos >= len(src) {
					return nil, undefinedAt(tool, f, at, "%q is the last byte: a one-character label must follow it (hex1 would use its EOF marker as one)", c)
				}
				l := src[pos]
				pos++
				if l == 0 {
					return nil, undefinedAt(tool, f, at, "label character NUL: hex1 keeps its read buffer in that label's slot")
				}
				if c == ':' {
					if !write {
						labels[l], defined[l] = ip, true
					}
					continue
				}
				ip += 4
				if write {
					if !defined[l] {
						return nil, undefinedAt(tool, f, at, "label %q is used but never defined (hex1 would silently use address 0)", l)
					}
					out = putLE(out, uint64(labels[l]-ip), 4)
				}
			case '#', ';':
				end := skipComment(src, pos)
				if end < 0 {
					return nil, errAt(tool, f, at, "comment runs into the end of the input: hex1 reads on forever without a line end")
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
	if _, err := pass(false); err != nil {
		return nil, err
	}
	return pass(true)
}

// skipComment returns the offset after the '\n' or '\r' that ends the
// comment whose body starts at pos, or -1 if the input ends first.
func skipComment(src []byte, pos int) int {
	for ; pos < len(src); pos++ {
		if src[pos] == '\n' || src[pos] == '\r' {
			return pos + 1
		}
	}
	return -1
}
