#!/usr/bin/env bash
# tcc-x86.sh: time the TinyCC steps of the x86 chain (tcc-mes to tcc-hello)
# in the sandbox and under QEMU, starting from the Mes steps' cached outputs,
# and check that both backends produce the same output hashes (issue 11,
# acceptance 5). See usage() below.

set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/tcc-x86.sh [--backend sandbox|qemu|both] [--from STEP] [--until STEP]
                        [--save] [--keep] [--upstream DIR] [--source NAME=PATH]...

Runs, for each backend asked for (default sandbox):

  bootchain run --chain x86 --backend B --from STEP --no-cache --until STEP
                --source stage0-posix=... --source mes=... --source nyacc=...
                --source tcc-0.9.26=... --source tcc-0.9.27=... --source live-bootstrap=...
                --work W --report R.json

in bootchain's own cache (XDG_CACHE_HOME), which must hold the steps before
--from (run `bootchain run --until mes-hello` once, or up to the step before
--from): those are placed from the cache, re-hashed; the steps from --from on
run afresh. It prints each step's wall time per backend (from the reports)
and, per backend, the SHA-256 of the sorted "<sha256>  <path>" list of every
output the report holds: equal values mean both backends built the same bytes.

options:
  --backend B    sandbox, qemu or both (default sandbox)
  --from STEP    first step to run (default tcc-mes; tcc-boot skips MesCC's
                 compile of tcc.c, which needs tcc-mes in the cache)
  --until STEP   last step (default tcc-hello)
  --save         also write bench/results/<YYYY-MM-DD>-tcc-x86-<backends>-<from>-<until>.txt
  --keep         keep the scratch directory (logs, reports, trees)
  --upstream DIR where the sources are (default /root/.cache/upstream):
                 stage0-posix-1.9.1/, mes_0.24.2.orig.tar.gz, nyacc-1.00.2.tar.gz,
                 tcc-0.9.26-1136-g5bba73cc.tar.gz, tcc-0.9.27/ (a tree of tag
                 release_0_9_27), live-bootstrap-aae7c4a6/ (a tree of that commit)
  --source NAME=PATH  one more source for the run (repeatable; bench/tools-x86.sh
                 gives those of the steps make to sed this way)
  -h, --help     this text

The times are informational; the exit status is 0 when every run verified
and the backends agree, 1 otherwise, 2 on usage errors.
EOF
}

die() { echo "tcc-x86.sh: $*" >&2; exit 1; }
usage_error() { echo "tcc-x86.sh: $*" >&2; echo "run with --help for usage" >&2; exit 2; }

backends=sandbox
from_step=tcc-mes
until_step=tcc-hello
save=0
keep=0
upstream=/root/.cache/upstream
extra=()

while [ $# -gt 0 ]; do
	case $1 in
	--backend)
		[ $# -ge 2 ] || usage_error "--backend needs a value"
		case $2 in
		sandbox | qemu) backends=$2 ;;
		both) backends="sandbox qemu" ;;
		*) usage_error "--backend $2: expected sandbox, qemu or both" ;;
		esac
		shift 2 ;;
	--from) [ $# -ge 2 ] || usage_error "--from needs a step"; from_step=$2; shift 2 ;;
	--until) [ $# -ge 2 ] || usage_error "--until needs a step"; until_step=$2; shift 2 ;;
	--upstream) [ $# -ge 2 ] || usage_error "--upstream needs a directory"; upstream=$2; shift 2 ;;
	--source) [ $# -ge 2 ] || usage_error "--source needs NAME=PATH"; extra+=("$2"); shift 2 ;;
	--save) save=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument $1" ;;
	esac
done

sources=(
	"stage0-posix=$upstream/stage0-posix-1.9.1"
	"mes=$upstream/mes_0.24.2.orig.tar.gz"
	"nyacc=$upstream/nyacc-1.00.2.tar.gz"
	"tcc-0.9.26=$upstream/tcc-0.9.26-1136-g5bba73cc.tar.gz"
	"tcc-0.9.27=$upstream/tcc-0.9.27"
	"live-bootstrap=$upstream/live-bootstrap-aae7c4a6"
	${extra[@]+"${extra[@]}"}
)
args=()
for s in "${sources[@]}"; do
	[ -e "${s#*=}" ] || die "source ${s%%=*}: ${s#*=} does not exist (give --upstream)"
	args+=(--source "$s")
done

repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /var/tmp/bootchain-bench-tcc.XXXXXX)
if [ "$keep" = 0 ]; then
	trap 'rm -rf "$scratch"' EXIT
else
	echo "scratch: $scratch"
fi
(cd "$repo" && go build -o "$scratch/bootchain" ./cmd/bootchain)

# steps R.json: "name seconds status" per step, in order.
steps() {
	awk '/^      "name": /{gsub(/[",]/, "", $2); n=$2}
	     /^      "status": /{gsub(/[",]/, "", $2); s=$2}
	     /^      "seconds": /{gsub(/,/, "", $2); printf "%s %.1f %s\n", n, $2, s}' "$1"
}

# outputs R.json FROM: SHA-256 of the sorted "<sha256>  <path>" lines of
# the outputs of the steps from FROM on.
outputs() {
	awk -v from="$2" '/^      "name": /{gsub(/[",]/, "", $2); if ($2 == from) on=1}
	     on && /^      "outputs": \[/{o=1; next}
	     o && /^      \]/{o=0}
	     o && /"path": /{gsub(/[",]/, "", $2); p=$2}
	     o && /"sha256": /{gsub(/[",]/, "", $2); print $2 "  " p}' "$1" | LC_ALL=C sort | sha256sum | cut -c1-64
}

status=0
for b in $backends; do
	mkdir -p "$scratch/$b"
	echo "== $b: bootchain run --from $from_step --until $until_step (load average $(cut -d' ' -f1 /proc/loadavg))"
	start=$(date +%s)
	if ! "$scratch/bootchain" run --chain x86 --backend "$b" --from "$from_step" --no-cache \
		--until "$until_step" "${args[@]}" \
		--work "$scratch/$b/work" --report "$scratch/$b/report.json" >"$scratch/$b.stdout" 2>"$scratch/$b.stderr"; then
		echo "$b: the run failed:" >&2
		tail -5 "$scratch/$b.stderr" >&2
		status=1
	fi
	echo "$b: $(($(date +%s) - start)) s in all"
done

{
	echo "# bench/tcc-x86.sh on $(date -u +%Y-%m-%d), $(nproc) cores, from $from_step until $until_step"
	printf '%-12s' step
	for b in $backends; do printf ' %18s' "$b (s)"; done
	echo
	first=$(set -- $backends; echo "$1")
	if [ -f "$scratch/$first/report.json" ]; then
		steps "$scratch/$first/report.json" | while read -r name _ st; do
			case $st in ok | failed) ;; *) continue ;; esac
			printf '%-12s' "$name"
			for b in $backends; do
				t=$(steps "$scratch/$b/report.json" 2>/dev/null | awk -v n="$name" '$1 == n {print $2 " " $3}')
				printf ' %18s' "${t:--}"
			done
			echo
		done
	fi
	for b in $backends; do
		[ -f "$scratch/$b/report.json" ] && echo "outputs $b: $(outputs "$scratch/$b/report.json" "$from_step")"
	done
} | tee "$scratch/summary.txt"

if [ "$(set -- $backends; echo $#)" = 2 ] && [ -f "$scratch/sandbox/report.json" ] && [ -f "$scratch/qemu/report.json" ]; then
	if [ "$(outputs "$scratch/sandbox/report.json" "$from_step")" = "$(outputs "$scratch/qemu/report.json" "$from_step")" ]; then
		echo "the backends agree on every output hash" | tee -a "$scratch/summary.txt"
	else
		echo "the backends DISAGREE on the output hashes" | tee -a "$scratch/summary.txt"
		status=1
	fi
fi
if [ "$save" = 1 ]; then
	cp "$scratch/summary.txt" "$repo/bench/results/$(date -u +%Y-%m-%d)-tcc-x86-$(echo $backends | tr ' ' '+')-$from_step-$until_step.txt"
fi
exit $status
