# bootchain x86 chain, step gcc: tcc (against musl) builds gcc-core 2.95.3,
# C only, static, into /usr; the new gcc builds its own libgcc.a. Run by
# the chain's bash from the root; the source tree is placed at
# /gcc-2.95.3 and built there.
#
# The chain has no binutils (BOOTSTRAP.md, "The road to GCC"): gcc's
# assembler and linker are tcc's, through two scripts of ours, gcc-as.sh
# and gcc-ld.sh, installed as as and ld in gcc's own directory
# /usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/, where gcc looks first
# (each says what it rewrites). Nor has it grep, or an ar that can add to
# an archive or extract from one: gcc-grep.c (grep, egrep, fgrep on
# musl's regex) and gcc-ar.c (x, t, r, over tcc -ar) are small programs of
# ours for the build only, in /gcc-tools, not installed.
#
# Our changes to gcc's sources, four sed edits (no other file changes):
# - gcc/Makefile.in: musl, not glibc, is the C library, and its files
#   are not where a GNU/Linux gcc looks. The driver's standard startfile
#   prefix (crt1.o, crti.o, crtn.o, libc.a; else $(libdir)/ = /usr/lib/)
#   is musl's library directory, and the preprocessor's last include
#   directory (else /usr/include, which holds Mes's C library) musl's.
# - gcc/config/linux.h: programs are linked without crtbegin.o and
#   crtend.o, which are not built. They register the DWARF frame tables
#   from _init (in .init) and deregister them from _fini; with tcc's
#   linker and musl as built here, libc's own _init replaces crti.o's, so
#   the registration never runs and the deregistration at exit aborts.
#   C needs neither (they serve C++ constructors and exceptions).
#
# Make's variables (after Guix's gcc-core-mesboot0): tcc builds every
# program for the build machine; libiberty's C alloca is linked into the
# programs gcc builds and runs during its build (CLIB: musl has no alloca,
# nor has the libtcc1 here); libgcc2 is built without -fPIC
# (TARGET_LIBGCC2_CFLAGS: static only, and tcc's assembler knows no
# @GOTOFF) and without the C++ exception support _eh (LIB2FUNCS_EH: its
# frame tables use forward .set symbols, which tcc's assembler turns into
# undefined symbols); the targets start.encap and rest.encap are those of
# `all` but the Info manuals (no makeinfo here). The cached answer is
# Guix's: configure cannot run its floating-point format test.
set -e
tcc=tcc-musl
export PATH=/gcc-tools:/usr/bin:/bin
export CONFIG_SHELL=/bin/sh

# configure scripts run by /bin/sh (step tcc-mes-pass2 made it) and
# write to /dev/null: the step root has no devices, so it is a file,
# removed at the end.
mkdir -p /dev /tmp /gcc-tools

$tcc -static -o /gcc-tools/grep /gcc-grep.c
cp /gcc-tools/grep /gcc-tools/egrep
cp /gcc-tools/grep /gcc-tools/fgrep
$tcc -static -o /gcc-tools/ar /gcc-ar.c

cd /gcc-2.95.3
sed -i -e 's|-DSTANDARD_STARTFILE_PREFIX=\\"$(libdir)/\\"|-DSTANDARD_STARTFILE_PREFIX=\\"/usr/lib/i386-unknown-linux-musl/\\"|' \
       -e 's|-DLOCAL_INCLUDE_DIR=\\"$(includedir)\\"|& -DSTANDARD_INCLUDE_DIR=\\"/usr/include/musl\\"|' \
       gcc/Makefile.in
sed -i -e 's| %{!shared:crtbegin.o%s} %{shared:crtbeginS.o%s}||' \
       -e 's|"%{!shared:crtend.o%s} %{shared:crtendS.o%s} crtn.o%s"|"crtn.o%s"|' \
       gcc/config/linux.h

echo "ac_cv_c_float_format='IEEE (little-endian)'" > config.cache
# config.if asks glibc for its minor version (for libstdc++'s name only).
libc_interface=-libc6.1- CC="$tcc -static" CPP="$tcc -E" ./configure \
	--build=i686-unknown-linux-gnu --host=i686-unknown-linux-gnu \
	--prefix=/usr --enable-static --disable-shared --disable-nls \
	--cache-file=config.cache

make -C libiberty CC="$tcc -static" AR="$tcc -ar" RANLIB=true

cp /gcc-as.sh gcc/as
cp /gcc-ld.sh gcc/ld
chmod 755 gcc/as gcc/ld
gccmake() {
	make -C gcc CC="$tcc -static" OLDCC="$tcc -static" \
		CC_FOR_BUILD="$tcc -static" AR="$tcc -ar" RANLIB=true \
		AR_FOR_TARGET=/gcc-tools/ar RANLIB_FOR_TARGET=true \
		LANGUAGES=c CLIB=../libiberty/libiberty.a \
		TARGET_LIBGCC2_CFLAGS= LIB2FUNCS_EH= EXTRA_PARTS= \
		SYSTEM_HEADER_DIR=/usr/include/musl "$@"
}
gccmake start.encap rest.encap
gccmake install-common install-headers install-libgcc install-driver install-cpp
install -m 755 /gcc-as.sh /usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/as
install -m 755 /gcc-ld.sh /usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/ld

# The check: the installed gcc compiles, assembles and links a small
# program (-O2), which runs; its output must be the expected line.
mkdir -p /gcc-check
cd /gcc-check
gcc -O2 -o check /gcc-check.c
./check > result
if [ "$(cat result)" != "gcc 2.95.3: 1+2+...+100 = 5050, 2^40 = 1099511627776" ]; then
	echo "gcc-check: unexpected output: $(cat result)" >&2
	exit 1
fi

if [ -f /dev/null ]; then
	rm -f /dev/null
fi
