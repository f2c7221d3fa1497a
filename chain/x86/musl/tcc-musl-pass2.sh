# bootchain x86 chain, step tcc-musl-pass2: the tcc of step tcc-musl-pass1
# builds TinyCC 0.9.27 once more, now against musl as built by a tcc that
# runs on musl (step musl-pass2): the final tcc of this part, /usr/bin/tcc-musl
# (and /usr/bin/tcc), and its libtcc1.a in /usr/lib/i386-unknown-linux-musl.
# Run by bash from the root.
#
# As live-bootstrap's run.sh does at commit aae7c4a6 with `build
# tcc-0.9.27 tcc-musl-pass2.sh` (source live-bootstrap-musl): a fresh build
# directory with the whole release tree and the three patches, the same
# commands and flags, the same install paths; the build directory is
# removed afterwards, and step tcc-0.9.27's is moved aside meanwhile, as in
# step tcc-mes-pass2; the package is /usr/src/repo/tcc-0.9.27_2.tar.bz2.
# live-bootstrap's /usr/bin/tcc is a symbolic link to tcc-musl, so it
# follows the new tcc-musl; here it is a copy, so the step copies the new
# tcc-musl there too.

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

tcc-musl \
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
    tcc.c
tcc-musl -c -D HAVE_CONFIG_H=1 lib/libtcc1.c
tcc-musl -ar cr libtcc1.a libtcc1.o

install -D tcc-musl "${DESTDIR}${PREFIX}/bin/tcc-musl"
install -D -m 644 libtcc1.a "${DESTDIR}${LIBDIR}/libtcc1.a"

cd /sysa/tcc-0.9.27
rm -rf build
mv build.tcc-0.9.27 build
pack tcc-0.9.27_2
unpack
cp "${PREFIX}/bin/tcc-musl" "${PREFIX}/bin/tcc"

# The check: musl-check.c, and musl-hello.c, which prints a double and a
# long long (the first musl printed 2.5 as 0.000).
mkdir -p /musl-check
cd /musl-check
tcc -static -o tcc-musl-pass2 /musl-check.c
./tcc-musl-pass2 > tcc-musl-pass2.txt
rm tcc-musl-pass2
tcc -static -o hello /musl-hello.c
./hello > hello.txt
rm hello
if [ "$(cat tcc-musl-pass2.txt)" != "$(cat /musl-check.txt)" ]; then
	echo "tcc-musl-pass2: musl-check printed what was not expected:" >&2
	cat tcc-musl-pass2.txt >&2
	exit 1
fi
if [ "$(cat hello.txt)" != "$(cat /musl-hello.txt)" ]; then
	echo "tcc-musl-pass2: musl-hello printed $(cat hello.txt), expected $(cat /musl-hello.txt)" >&2
	exit 1
fi
echo "tcc-musl-pass2: ok: $(cat hello.txt)"
