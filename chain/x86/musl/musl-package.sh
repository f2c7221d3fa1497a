# bootchain x86 chain: the packages of steps tcc-mes-pass2 to
# tcc-musl-pass2, sourced by their scripts.
#
# live-bootstrap's build function (sysa/helpers.sh at aae7c4a6) installs
# each build into a DESTDIR (/tmp/destdir), packs that into
# /usr/src/repo/<pkg>_<revision>.tar.bz2, and unpacks the package at /;
# it publishes every package's SHA-256 (sysa/SHA256SUMS.pkgs). pack makes
# the package the same way with the same tools, so that ours can be held
# against those hashes: every time stamp 1970-01-01 00:00, the list of
# files sorted (its tar 1.12 has no --sort), numeric owner 0, modes
# go=rX,u+rw,a-s, bzip2 --best. unpack copies the DESTDIR's files to /,
# following symbolic links: bootchain's tree keeps regular files.

DESTDIR=/tmp/destdir

# list_files DIR: every file, directory and link under DIR, one per line
# (no find yet).
list_files() {
	local f
	for f in "$1"/* "$1"/.[0-z]*; do
		if [ -e "$f" ] || [ -h "$f" ]; then
			echo "$f"
			if [ -d "$f" ] && [ ! -h "$f" ]; then
				list_files "$f"
			fi
		fi
	done
}

# pack NAME: the package /usr/src/repo/NAME.tar.bz2 of DESTDIR.
pack() {
	local f
	mkdir -p /usr/src/repo
	cd "${DESTDIR}"
	{ echo .; list_files .; } | LC_ALL=C sort > /tmp/filelist.txt
	while read -r f; do
		touch -h -t 197001010000.00 "$f"
	done < /tmp/filelist.txt
	tar --no-recursion --files-from /tmp/filelist.txt \
		--numeric-owner --owner=0 --group=0 --mode=go=rX,u+rw,a-s \
		-cf "/usr/src/repo/$1.tar"
	rm /tmp/filelist.txt
	cd /usr/src/repo
	touch -t 197001010000.00 "$1.tar"
	bzip2 --best "$1.tar"
}

# unpack: DESTDIR's files into /, then DESTDIR removed.
unpack() {
	cp -RL "${DESTDIR}/." /
	rm -rf "${DESTDIR}"
}
