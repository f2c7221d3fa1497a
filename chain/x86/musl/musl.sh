# bootchain x86 chain, steps musl and musl-pass2: tcc builds musl 1.1.24,
# static only, into /usr/lib/i386-unknown-linux-musl (libc.a, crt1.o, ...)
# and /usr/include/musl. Run by bash from the root, with the step's name
# as argument: musl (built by tcc-mes-pass2's tcc, linked against Mes's C
# library) or musl-pass2 (built by tcc-musl-pass1's tcc, itself linked
# against the first musl).
#
# As live-bootstrap's run.sh does at commit aae7c4a6 with `build
# musl-1.1.24`, twice (helpers.sh's build function and
# sysa/musl-1.1.24/musl-1.1.24.sh, source live-bootstrap-musl): a fresh
# build directory /sysa/musl-1.1.24/build/musl-1.1.24 holding the whole
# release tree, the nine patches of sysa/musl-1.1.24/patches applied in
# order with patch -Np0, src/complex removed (tcc has no complex types),
# the same configure and make command lines, LIBDIR
# /usr/lib/i386-unknown-linux-musl, the build directory removed
# afterwards, and the package /usr/src/repo/musl-1.1.24_0.tar.bz2 (step
# musl) or _1 (musl-pass2) made as live-bootstrap makes it
# (musl-package.sh), whose SHA-256 live-bootstrap publishes.

set -e
. /musl-package.sh

# patch keeps its temporary files in TMPDIR (/tmp).
mkdir -p /tmp
step=$1
case "${step}" in
musl) pkg=musl-1.1.24_0 ;;
musl-pass2) pkg=musl-1.1.24_1 ;;
*) echo "musl.sh: expected musl or musl-pass2, found ${step}" >&2; exit 1 ;;
esac
PREFIX=/usr
LIBDIR=${PREFIX}/lib/i386-unknown-linux-musl

cd /sysa/musl-1.1.24
rm -rf build
mkdir build
cd build
cp -r /musl-1.1.24 musl-1.1.24
cd musl-1.1.24
for p in /sysa/musl-1.1.24/patches/*.patch; do
	echo "Applying patch: ${p}"
	patch -Np0 < "${p}"
done
rm -rf src/complex
mkdir -p /dev

CC=tcc ./configure \
  --host=i386 \
  --disable-shared \
  --prefix="${PREFIX}" \
  --libdir="${LIBDIR}" \
  --includedir="${PREFIX}/include/musl"
# configure writes to /dev/null, which is then a file: the step root has
# no devices (live-bootstrap removes it too).
if test -f /dev/null; then
	rm /dev/null
fi

make -j1 CROSS_COMPILE= AR="tcc -ar" RANLIB=true CFLAGS="-DSYSCALL_NO_TLS"
make -f Makefile install PREFIX="${PREFIX}" DESTDIR="${DESTDIR}"

cd /sysa/musl-1.1.24
rm -rf build
pack "${pkg}"
unpack

# The check: musl-check.c compiled against the new musl. After step musl
# the compiler is still set up for Mes's C library, so the headers, start
# files and libraries are named; after musl-pass2 tcc's own defaults are
# musl's.
mkdir -p /musl-check
cd /musl-check
if [ "${step}" = musl ]; then
	tcc -static -nostdinc -nostdlib -I "${PREFIX}/include/musl" -o "${step}" \
		"${LIBDIR}/crt1.o" "${LIBDIR}/crti.o" /musl-check.c \
		"${LIBDIR}/libc.a" "${PREFIX}/lib/mes/tcc/libtcc1.a" "${LIBDIR}/libc.a" "${LIBDIR}/crtn.o"
else
	tcc -static -o "${step}" /musl-check.c
fi
./"${step}" > "${step}.txt"
rm "${step}"
if [ "$(cat "${step}.txt")" != "$(cat /musl-check.txt)" ]; then
	echo "${step}: musl-check printed what was not expected:" >&2
	cat "${step}.txt" >&2
	exit 1
fi
echo "${step}: ok"
