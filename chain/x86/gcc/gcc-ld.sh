#!/usr/bin/bash
# bootchain's ld for GCC 2.95.3: tcc's linker, since the chain has no
# binutils. Installed as ld in GCC's own directory, where gcc looks first.
# gcc runs `ld -m elf_i386 [-static | -dynamic-linker FILE] -o OUT
# crt1.o crti.o crtbegin.o -L... OBJ... -lgcc -lc -lgcc crtend.o crtn.o`;
# this drops what only GNU ld needs to hear (-m elf_i386, the dynamic
# linker: tcc links statically) and passes the rest, in order, to tcc with
# -nostdlib, so that exactly the files and libraries gcc names are linked,
# none of tcc's own.
tcc=/usr/bin/tcc-musl
n=$#
while [ $n -gt 0 ]; do
	a=$1
	shift
	n=$((n - 1))
	case $a in
	-m|-dynamic-linker) shift; n=$((n - 1)) ;;
	-Qy|-Qn|-V) ;;
	*) set -- "$@" "$a" ;;
	esac
done
exec $tcc -nostdlib -static "$@"
