# bootchain x86 chain, step tcc-mes-pass2: tcc 0.9.26 builds TinyCC 0.9.27
# again, against Mes's C library, with live-bootstrap's three patches for
# what musl needs (static parameters in array declarators, duplicate
# symbols, static linking) and its own libtcc1.a. Run by bash from the
# root (the first step run by bash).
#
# As live-bootstrap's run.sh does at commit aae7c4a6 with
# `build tcc-0.9.27 tcc-mes-pass2.sh` (helpers.sh's build function and
# sysa/tcc-0.9.27/tcc-mes-pass2.sh, source live-bootstrap-musl): a fresh
# build directory /sysa/tcc-0.9.27/build/tcc-0.9.27 holding the whole
# release tree, the patches of sysa/tcc-0.9.27/patches applied in order
# with patch -Np0, the same commands and flags, the same install paths,
# the build directory removed afterwards, and the package
# /usr/src/repo/tcc-0.9.27_0.tar.bz2 made as live-bootstrap makes it
# (musl-package.sh), whose SHA-256 live-bootstrap publishes.
#
# The build directory of step tcc-0.9.27 (copies it made, which live-
# bootstrap's build removes) is an earlier step's output and stays: it is
# moved aside for the build and put back.

set -e
. /musl-package.sh

# live-bootstrap's bash step links /bin/sh, /bin/bash and /usr/bin/sh to
# bash; configure scripts and make need /bin/sh. bootchain's tree keeps
# regular files, so these are copies.
mkdir -p /bin
cp /usr/bin/bash /bin/bash
cp /usr/bin/bash /bin/sh
cp /usr/bin/bash /usr/bin/sh
# patch keeps its temporary files in TMPDIR (/tmp).
mkdir -p /tmp

PREFIX=/usr
LIBDIR=${PREFIX}/lib/mes

cd /sysa/tcc-0.9.27
mv build build.tcc-0.9.27
mkdir build
cd build
cp -r /tcc-0.9.27 tcc-0.9.27
cd tcc-0.9.27
for p in /sysa/tcc-0.9.27/patches/*.patch; do
	echo "Applying patch: ${p}"
	patch -Np0 < "${p}"
done
touch config.h

tcc-0.9.26 \
    -v \
    -static \
    -o tcc \
    -D TCC_TARGET_I386=1 \
    -D CONFIG_TCCDIR=\""${LIBDIR}/tcc"\" \
    -D CONFIG_TCC_CRTPREFIX=\""${LIBDIR}"\" \
    -D CONFIG_TCC_ELFINTERP=\"/mes/loader\" \
    -D CONFIG_TCC_LIBPATHS=\""${LIBDIR}:${LIBDIR}/tcc"\" \
    -D CONFIG_TCC_SYSINCLUDEPATHS=\""${PREFIX}/include"\" \
    -D TCC_LIBGCC=\""${LIBDIR}/libc.a"\" \
    -D CONFIG_TCC_STATIC=1 \
    -D CONFIG_USE_LIBGCC=1 \
    -D TCC_VERSION=\"0.9.27\" \
    -D ONE_SOURCE=1 \
    tcc.c
tcc-0.9.26 -c -D HAVE_CONFIG_H=1 lib/libtcc1.c
tcc-0.9.26 -ar cr libtcc1.a libtcc1.o

install -D libtcc1.a "${DESTDIR}${LIBDIR}/tcc/libtcc1.a"
install -D tcc "${DESTDIR}${PREFIX}/bin/tcc"

cd /sysa/tcc-0.9.27
rm -rf build
mv build.tcc-0.9.27 build
pack tcc-0.9.27_0
unpack

# The check: the new tcc compiles bootchain's musl-check.c against Mes's
# C library; it runs and writes its lines, which must be the expected ones.
mkdir -p /musl-check
cd /musl-check
tcc -o tcc-mes-pass2 /musl-check.c
./tcc-mes-pass2 > tcc-mes-pass2.txt
rm tcc-mes-pass2
# No cmp yet (diffutils comes later): bash compares.
if [ "$(cat tcc-mes-pass2.txt)" != "$(cat /musl-check.txt)" ]; then
	echo "tcc-mes-pass2: musl-check printed what was not expected:" >&2
	cat tcc-mes-pass2.txt >&2
	exit 1
fi
echo "tcc-mes-pass2: ok"
