#!/usr/bin/env bash
# gcc-x86.sh: time the x86 chain's steps gcc and gcc-hello (issue 13: the
# first GCC, gcc-core 2.95.3 built by tcc against musl, with tcc as its
# assembler and linker, and the program it compiles) in the sandbox and/or
# under QEMU, starting from the cached steps up to tcc-musl-pass2:
# bench/tcc-x86.sh with these steps' sources. Options are tcc-x86.sh's
# (--backend, --from, --until, --save, --keep, --upstream DIR); --from
# defaults to gcc and --until to gcc-hello. The sources are read from the
# upstream directory (default /root/.cache/upstream): gcc-2.95.3/ (the
# tree BOOTSTRAP.md, "The road to GCC", says how to make), and, for runs
# that start earlier, musl-1.1.24/ and live-bootstrap-aae7c4a6/.

set -euo pipefail

upstream=/root/.cache/upstream
args=()
from=(--from gcc)
until=(--until gcc-hello)
while [ $# -gt 0 ]; do
	case $1 in
	--upstream) [ $# -ge 2 ] || { echo "gcc-x86.sh: --upstream needs a directory" >&2; exit 2; }; upstream=$2; args+=("$1" "$2"); shift 2 ;;
	--from) [ $# -ge 2 ] || { echo "gcc-x86.sh: --from needs a step" >&2; exit 2; }; from=("$1" "$2"); shift 2 ;;
	--until) [ $# -ge 2 ] || { echo "gcc-x86.sh: --until needs a step" >&2; exit 2; }; until=("$1" "$2"); shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done

exec "$(dirname "$0")/tcc-x86.sh" "${from[@]}" "${until[@]}" "${args[@]}" \
	--source "musl=$upstream/musl-1.1.24" \
	--source "live-bootstrap-musl=$upstream/live-bootstrap-aae7c4a6" \
	--source "gcc-core=$upstream/gcc-2.95.3"
