#!/usr/bin/env bash
# musl-x86.sh: time the x86 chain's steps tcc-mes-pass2, musl,
# tcc-musl-pass1, musl-pass2 and tcc-musl-pass2 (issue 13) in the sandbox
# and/or under QEMU, starting from the cached steps up to bash:
# bench/tcc-x86.sh with these steps' sources. Options are tcc-x86.sh's
# (--backend, --from, --until, --save, --keep, --upstream DIR); --from
# defaults to tcc-mes-pass2 and --until to tcc-musl-pass2. The sources are
# read from the upstream directory (default /root/.cache/upstream):
# musl-1.1.24/ (a tree of tag v1.1.24, made as the chain's comment says)
# and live-bootstrap-aae7c4a6/; the cache must hold the steps up to bash
# (bench/tools-x86.sh, or `bootchain run --until bash`).

set -euo pipefail

upstream=/root/.cache/upstream
args=()
from=(--from tcc-mes-pass2)
until=(--until tcc-musl-pass2)
while [ $# -gt 0 ]; do
	case $1 in
	--upstream) [ $# -ge 2 ] || { echo "musl-x86.sh: --upstream needs a directory" >&2; exit 2; }; upstream=$2; args+=("$1" "$2"); shift 2 ;;
	--from) [ $# -ge 2 ] || { echo "musl-x86.sh: --from needs a step" >&2; exit 2; }; from=("$1" "$2"); shift 2 ;;
	--until) [ $# -ge 2 ] || { echo "musl-x86.sh: --until needs a step" >&2; exit 2; }; until=("$1" "$2"); shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done

exec "$(dirname "$0")/tcc-x86.sh" "${from[@]}" "${until[@]}" "${args[@]}" \
	--source "musl=$upstream/musl-1.1.24" \
	--source "live-bootstrap-musl=$upstream/live-bootstrap-aae7c4a6"
