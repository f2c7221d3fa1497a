package stage0

import (
	"fmt"
	"strings"
)

// blood-elf reads M1 sources and writes an M1 footer holding ELF section
// headers, a string table and a symbol table naming every label, so that
// debuggers can show function names. A label is ':' followed by a name that
// runs to a space, tab, '\n' or '>' — the first character is taken whatever
// it is. '#' and ';' comments (to '\n' or '\r') and "..." strings are
// skipped; '...' strings are not.

// BloodElfOptions selects the footer blood-elf writes.
type BloodElfOptions struct {
	Bits64    bool     // --64: 64-bit ELF structures (amd64)
	BigEndian bool     // --big-endian instead of --little-endian
	Entries   []string // --entry names, listed before the labels; the last is exempt from hiding
}

// BloodElf writes the footer mescc-tools blood-elf 2.0.1 writes for the
// given M1 inputs, in order.
func BloodElf(files []File, opts BloodElfOptions) ([]byte, error) {
	const tool = "blood-elf"
	names := append([]string(nil), opts.Entries...)
	for _, f := range files {
		src := f.Data
		for pos := 0; pos < len(src); {
			at := pos
			c := src[pos]
			pos++
			switch c {
			case ':':
				if pos >= len(src) {
					return nil, errAt(tool, f, at, "':' at the end of the input: blood-elf cannot have an EOF token")
				}
				start := pos
				pos++ // the first character is part of the name, whatever it is
				for pos < len(src) && strings.IndexByte(" \t\n>", src[pos]) < 0 {
					pos++
				}
				name := string(src[start:pos])
				if len(name) >= 4096 {
					return nil, errAt(tool, f, at, "label of %d bytes exceeds the 4095-byte limit", len(name))
				}
				if pos < len(src) {
					pos++ // the terminator
				}
				if i := strings.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				names = append(names, name)
			case '#', ';':
				pos = skipCommentOrEOF(src, pos)
			case '"':
				for pos < len(src) && src[pos] != '"' {
					pos++
				}
				if pos < len(src) {
					pos++
				}
			}
		}
	}

	val := func(v uint64, n int) string {
		var b []byte
		if opts.BigEndian {
			b = putBE(nil, v, n)
		} else {
			b = putLE(nil, v, n)
		}
		return fmt.Sprintf("'%X'", b)
	}
	zero8, zero32, one16, one32, two8 := val(0, 1), val(0, 4), val(1, 2), val(1, 4), val(2, 1)
	entry := ""
	if len(opts.Entries) > 0 {
		entry = opts.Entries[len(opts.Entries)-1]
	}

	var b strings.Builder
	w := b.WriteString
	reg := func(field, label string) {
		w(field)
		if opts.Bits64 {
			w(" " + zero32)
		}
		w("\t#" + label + "\n")
	}
	section := func(label, name, typ, flags, addr, offset, size, link, info, entsize string) {
		w("\n" + label + "\n")
		w(name + "\t#sh_name\n")
		w(typ + "\t#sh_type\n")
		reg(flags, "sh_flags")
		reg(addr, "sh_addr")
		reg(offset, "sh_offset")
		reg(size, "sh_size")
		w(link + "\t#sh_link\n")
		w(info + "\t#sh_info\n")
		if opts.Bits64 {
			w(one32 + " " + zero32 + "\t#sh_addralign\n")
		} else {
			w(one32 + "\t#sh_addralign\n")
		}
		reg(entsize, "sh_entsize")
	}

	w("# Generated sections\n:ELF_shstr\n" + zero8 + "\t# NULL\n")
	w(":ELF_shstr__text\n\".text\"\n:ELF_shstr__shstr\n\".shstrtab\"\n:ELF_shstr__sym\n\".symtab\"\n:ELF_shstr__str\n\".strtab\"\n")
	z := zero32
	section(":ELF_section_headers", z, z, z, z, z, z, z, z, z)
	section(":ELF_section_header_text", "%ELF_shstr__text>ELF_shstr", one32, val(6, 4), "&ELF_text", "%ELF_text>ELF_base", "%ELF_data>ELF_text", z, z, z)
	section(":ELF_section_header_shstr", "%ELF_shstr__shstr>ELF_shstr", val(3, 4), z, "&ELF_shstr", "%ELF_shstr>ELF_base", "%ELF_section_headers>ELF_shstr", z, z, z)
	section(":ELF_section_header_str", "%ELF_shstr__str>ELF_shstr", val(3, 4), z, "&ELF_str", "%ELF_str>ELF_base", "%ELF_sym>ELF_str", z, z, z)
	symSize := val(16, 4)
	if opts.Bits64 {
		symSize = val(24, 4)
	}
	section(":ELF_section_header_sym", "%ELF_shstr__sym>ELF_shstr", val(2, 4), z, "&ELF_sym", "%ELF_sym>ELF_base", "%ELF_end>ELF_sym", val(3, 4), val(uint64(len(names)+1), 4), symSize)

	w("\n# Generated string table\n:ELF_str\n" + zero8 + "\t# NULL string\n")
	for _, n := range names {
		w(":ELF_str_" + n + "\t\"" + n + "\"\n")
	}
	w("# END Generated string table\n\n")

	w("\n# Generated symbol table\n:ELF_sym\n# Required NULL symbol entry\n")
	if opts.Bits64 {
		w(z + "\t# st_name\n" + zero8 + "\t# st_info\n" + zero8 + "\t# st_other\n" + one16 + "\t# st_shndx\n")
		w(z + " " + z + "\t# st_value\n" + z + " " + z + "\t# st_size\n\n")
	} else {
		w(z + "\t# st_name\n" + z + "\t# st_value\n" + z + "\t# st_size\n")
		w(zero8 + "\t# st_info\n" + zero8 + "\t# st_other\n" + one16 + "\t# st_shndx\n\n")
	}
	for _, n := range names {
		hidden := n != "" && n[0] == '_' && n != entry
		w("%ELF_str_" + n + ">ELF_str\t# st_name\n")
		if opts.Bits64 {
			w(two8 + "\t# st_info (FUNC)\n")
			if hidden {
				w(two8 + "\t# st_other (hidden)\n")
			} else {
				w(zero8 + "\t# st_other (other)\n")
			}
			w(one16 + "\t# st_shndx\n")
			w("&" + n + " " + z + "\t# st_value\n")
			w(z + " " + z + "\t# st_size (unknown size)\n\n")
		} else {
			w("&" + n + "\t#st_value\n")
			w(z + "\t# st_size (unknown size)\n")
			w(two8 + "\t# st_info (FUNC)\n")
			if hidden {
				w(two8 + "\t# st_other (hidden)\n")
			} else {
				w(zero8 + "\t# st_other (default)\n")
			}
			w(one16 + "\t# st_shndx\n\n")
		}
	}
	w("# END Generated symbol table\n\n:ELF_end\n")
	return []byte(b.String()), nil
}
