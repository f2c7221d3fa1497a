# bootchain x86 chain, step tcc-musl-pass1: TinyCC 0.9.27 against musl.
# tcc 0.9.26 builds a tcc that targets musl (its headers, start files and
# C library) but runs on Mes's C library; that tcc builds itself again,
# against the first musl (step musl). It becomes /usr/bin/tcc-musl and
# /usr/bin/tcc, with its libtcc1.a in /usr/lib/i386-unknown-linux-musl/tcc.
# Run by bash from the root.
#
# As live-bootstrap's run.sh does at commit aae7c4a6 with `build
# tcc-0.9.27 tcc-musl-pass1.sh` (source live-bootstrap-musl): a fresh build
# directory with the whole release tree and the three patches, the same
# two rounds of commands and flags, the same install paths; the build
# directory is removed afterwards, and step tcc-0.9.27's (an earlier
# step's output) is moved aside meanwhile, as in step tcc-mes-pass2; the
# package is /usr/src/repo/tcc-0.9.27_1.tar.bz2. Its /usr/bin/tcc is a
# symbolic link to tcc-musl; bootchain's tree gets a copy.

set -e
. /musl-package.sh

# patch keeps its temporary files in TMPDIR (/tmp).
mkdir -p /tmp
PREFIX=/usr
LIBDIR=${PREFIX}/lib/i386-unknown-linux-musl

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

# tcc 0.9.27 linked against Mes's C library cannot build itself; linked
# against musl it can: the first round (tcc 0.9.26) gives a tcc-musl that
# runs on Mes's C library, the second (that tcc-musl) one that runs on musl.
ln -sf "${PREFIX}/lib/mes/tcc/libtcc1.a" ./libtcc1.a
for TCC in tcc-0.9.26 ./tcc-musl; do
    "${TCC}" \
        -v \
        -static \
        -o tcc-musl \
        -D TCC_TARGET_I386=1 \
        -D CONFIG_TCCDIR=\""${LIBDIR}/tcc"\" \
        -D CONFIG_TCC_CRTPREFIX=\""${LIBDIR}"\" \
        -D CONFIG_TCC_ELFINTERP=\"/musl/loader\" \
        -D CONFIG_TCC_LIBPATHS=\""${LIBDIR}:${LIBDIR}/tcc"\" \
        -D CONFIG_TCC_SYSINCLUDEPATHS=\""${PREFIX}/include/musl"\" \
        -D TCC_LIBGCC=\""${LIBDIR}/libc.a"\" \
        -D CONFIG_TCC_STATIC=1 \
        -D CONFIG_USE_LIBGCC=1 \
        -D TCC_VERSION=\"0.9.27\" \
        -D ONE_SOURCE=1 \
        -B . \
        tcc.c
    rm -f libtcc1.a
    "${TCC}" -c -D HAVE_CONFIG_H=1 lib/libtcc1.c
    "${TCC}" -ar cr libtcc1.a libtcc1.o
done

install -D tcc-musl "${DESTDIR}${PREFIX}/bin/tcc-musl"
ln -s tcc-musl "${DESTDIR}${PREFIX}/bin/tcc"
install -D libtcc1.a "${DESTDIR}${LIBDIR}/tcc/libtcc1.a"

cd /sysa/tcc-0.9.27
rm -rf build
mv build.tcc-0.9.27 build
pack tcc-0.9.27_1
unpack

# The check: musl-check.c, compiled by the new tcc with its own defaults
# (musl's headers, start files and libraries).
mkdir -p /musl-check
cd /musl-check
tcc -static -o tcc-musl-pass1 /musl-check.c
./tcc-musl-pass1 > tcc-musl-pass1.txt
rm tcc-musl-pass1
if [ "$(cat tcc-musl-pass1.txt)" != "$(cat /musl-check.txt)" ]; then
	echo "tcc-musl-pass1: musl-check printed what was not expected:" >&2
	cat tcc-musl-pass1.txt >&2
	exit 1
fi
echo "tcc-musl-pass1: ok"
