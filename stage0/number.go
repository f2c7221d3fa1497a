package stage0

// strtoint reads a number as M2libc's strtoint does, which is how
// mescc-tools reads immediates and --base-address: "0x" hex (either case),
// "0b" binary, a leading "0" octal, otherwise decimal; '_' is skipped
// anywhere; a '-' is accepted only right after the prefix; anything else
// makes the whole number 0.
//
// The tools are built by M2-Planet, whose int is 32 bits on x86 and 64 bits
// on amd64; arithmetic wraps at that width. On amd64 M2-Planet also reads
// the constants 0x80000000 and 0xFFFFFFFF as sign-extended 32-bit values, so
// M2libc's "sign extension" (if result & 0x80000000, result |= 0xFFFFFFFF << 31)
// sets bits 31..63 whenever any of bits 31..63 is set.
func strtoint(s string, arch Arch) int64 {
	var n int64
	switch {
	case s == "":
		return 0
	case len(s) >= 2 && s[0] == '0' && s[1] == 'b':
		n = setReader(s[2:], 2, arch)
	case len(s) >= 2 && s[0] == '0' && s[1] == 'x':
		n = setReader(s[2:], 16, arch)
	case s[0] == '0':
		n = setReader(s[1:], 8, arch)
	default:
		n = setReader(s, 10, arch)
	}
	if arch == X86 {
		return n
	}
	if n&^0x7FFFFFFF != 0 {
		n |= -1 << 31
	}
	return n
}

func setReader(s string, base int64, arch Arch) int64 {
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			continue
		}
		d := int64(nibble(c))
		if d < 0 || d >= base {
			return 0
		}
		n = n*base + d
		if arch == X86 {
			n = int64(int32(n))
		}
	}
	if neg {
		n = -n
		if arch == X86 {
			n = int64(int32(n))
		}
	}
	return n
}
