#!/usr/bin/env bash
# tools-x86.sh: time the x86 chain's steps after TinyCC (make, patch, gzip,
# tar, sed, bzip2, coreutils, heirloom-devtools, bash; issue 12) in the
# sandbox and/or under QEMU, starting from the
# cached steps up to tcc-hello: bench/tcc-x86.sh with these steps' sources.
# Options are tcc-x86.sh's (--backend, --from, --until, --save, --keep,
# --upstream DIR); --from defaults to make and --until to bash. The sources
# are read from the upstream directory (default /root/.cache/upstream):
# make-3.82/, patch-2.5.9/, gzip-1.2.4/, tar-1.12/, coreutils-9874f0ee/
# (tar-lib), sed-4.1.5/, bzip2_1.0.8.orig.tar.gz, coreutils-5.0/,
# heirloom-devtools-070527/, bash-2.05b/ and live-bootstrap-aae7c4a6/, trees
# made as BOOTSTRAP.md ("After TinyCC", "From bzip2 to bash") says.

set -euo pipefail

upstream=/root/.cache/upstream
args=()
from=(--from make)
until=(--until bash)
while [ $# -gt 0 ]; do
	case $1 in
	--upstream) [ $# -ge 2 ] || { echo "tools-x86.sh: --upstream needs a directory" >&2; exit 2; }; upstream=$2; args+=("$1" "$2"); shift 2 ;;
	--from) [ $# -ge 2 ] || { echo "tools-x86.sh: --from needs a step" >&2; exit 2; }; from=("$1" "$2"); shift 2 ;;
	--until) [ $# -ge 2 ] || { echo "tools-x86.sh: --until needs a step" >&2; exit 2; }; until=("$1" "$2"); shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done

exec "$(dirname "$0")/tcc-x86.sh" "${from[@]}" "${until[@]}" "${args[@]}" \
	--source "live-bootstrap-tools=$upstream/live-bootstrap-aae7c4a6" \
	--source "make=$upstream/make-3.82" \
	--source "patch=$upstream/patch-2.5.9" \
	--source "gzip=$upstream/gzip-1.2.4" \
	--source "tar=$upstream/tar-1.12" \
	--source "tar-lib=$upstream/coreutils-9874f0ee" \
	--source "sed=$upstream/sed-4.1.5" \
	--source "bzip2=$upstream/bzip2_1.0.8.orig.tar.gz" \
	--source "coreutils=$upstream/coreutils-5.0" \
	--source "heirloom-devtools=$upstream/heirloom-devtools-070527" \
	--source "bash=$upstream/bash-2.05b" \
	--source "live-bootstrap-bzip2=$upstream/live-bootstrap-aae7c4a6" \
	--source "live-bootstrap-coreutils=$upstream/live-bootstrap-aae7c4a6" \
	--source "live-bootstrap-heirloom-devtools=$upstream/live-bootstrap-aae7c4a6" \
	--source "live-bootstrap-bash=$upstream/live-bootstrap-aae7c4a6"
