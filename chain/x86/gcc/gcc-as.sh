#!/usr/bin/bash
# bootchain's as for GCC 2.95.3: tcc's assembler, since the chain has no
# binutils. Installed as as in GCC's own directory, where gcc looks first.
# gcc runs `as -Qy -o OUT.o IN.s`; this rewrites what tcc's assembler
# does not know, then tcc assembles the result:
# - .version and .ident (comments in the object) and the stabs debugging
#   directives .stabs, .stabn and .stabd are dropped (so -g gives no
#   debugging information);
# - `.p2align N,,MAX` becomes `.p2align N,0x90` (always pad to 2^N,
#   where gas pads only when that takes at most MAX bytes: more padding,
#   the same instructions), and every .p2align and .align pads with nop
#   (0x90), as gas does in code, where tcc would pad with zeros;
# - sal, gas's other name for shl, is written shl, and .4byte and .2byte
#   .long and .short;
# - tcc has no common symbols: `.local X` with `.comm X,SIZE,ALIGN` (a
#   static variable without initialiser) becomes a local symbol in .bss,
#   and `.comm X,SIZE,ALIGN` alone (a global one) a global symbol in
#   .bss: tcc's linker (live-bootstrap's patch) keeps the first of two
#   definitions, where GNU ld merges common symbols and lets one with an
#   initialiser win.
tcc=/usr/bin/tcc-musl
out=a.out
in=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift 2 ;;
	-Qy|-Qn|-V) shift ;;
	-*) echo "as: option $1 is not known to bootchain's as (tcc)" >&2; exit 1 ;;
	*) in="$in $1"; shift ;;
	esac
done
tmp=$out.tcc.s
sed -e '/^[ 	]*\.version[ 	]/d' \
    -e '/^[ 	]*\.ident[ 	]/d' \
    -e '/^[ 	]*\.stab[snd][ 	]/d' \
    -e 's/^\([ 	]*\.p2align[ 	][ 	]*[0-9][0-9]*\)\(,[0-9]*,[0-9]*\)*[ 	]*$/\1,0x90/' \
    -e 's/^\([ 	]*\.align[ 	][ 	]*[0-9][0-9]*\)[ 	]*$/\1,0x90/' \
    -e 's/^\([ 	]*\)sal\([bwl]*[ 	]\)/\1shl\2/' \
    -e 's/^\([ 	]*\)\.4byte\([ 	]\)/\1.long\2/' \
    -e 's/^\([ 	]*\)\.2byte\([ 	]\)/\1.short\2/' \
    -e '/^[ 	]*\.local[ 	]/{
N
s/^[ 	]*\.local[ 	][ 	]*\([^ 	\n]*\)[ 	]*\n[ 	]*\.comm[ 	][ 	]*\1,\([0-9]*\),\([0-9]*\)[ 	]*$/	.pushsection .bss\
	.balign \3\
\1:\
	.skip \2\
	.popsection/
}' \
    -e 's/^[ 	]*\.comm[ 	][ 	]*\([^ 	,]*\),\([0-9]*\),\([0-9]*\)[ 	]*$/	.globl \1\
	.pushsection .bss\
	.balign \3\
\1:\
	.skip \2\
	.popsection/' \
    $in > "$tmp" || exit 1
$tcc -c -o "$out" "$tmp"
rc=$?
rm -f "$tmp"
exit $rc
