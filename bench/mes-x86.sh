#!/usr/bin/env bash
# mes-x86.sh: time each step of the x86 chain up to the GNU Mes steps, in the
# sandbox and under QEMU, and check that both backends produce the same
# output hashes (issue 6, acceptance 1 and 4). See usage() below.

set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/mes-x86.sh [--backend sandbox|qemu|both] [--until STEP] [--save]
                        [--tree PATH] [--mes FILE] [--nyacc FILE] [--keep]

Runs, for each backend asked for (default both, sandbox first):

  bootchain run --chain x86 --backend B --no-cache --until STEP
                --source stage0-posix=TREE --source mes=FILE --source nyacc=FILE
                --work W --report R.json

with a fresh, empty XDG_CACHE_HOME, so every step runs from the seeds and is
verified. It prints each step's wall time per backend (from the reports) and,
per backend, the SHA-256 of the sorted "<sha256>  <path>" list of every output
the report holds: equal values mean both backends built the same bytes.

options:
  --backend B   sandbox, qemu or both (default both)
  --until STEP  last step (default mes-hello); e.g. mes to skip MesCC's libc
  --save        also write bench/results/<YYYY-MM-DD>-mes-x86-<backends>-<until>.txt
  --tree PATH   unpacked stage0-posix 1.9.1 tree (default: $STAGE0_POSIX, else
                /root/.cache/bootchain-upstream/stage0-posix-1.9.1)
  --mes FILE    mes-0.24.2.tar.gz (default: $MES_TARBALL, else the Debian
                orig tarball under /root/.cache/bootchain-upstream/distfiles)
  --nyacc FILE  nyacc-1.00.2.tar.gz as the chain pins it (default: $NYACC_TARBALL,
                else /root/.cache/bootchain-upstream/distfiles/nyacc-1.00.2-git-06a0985.tar.gz)
  --keep        keep the scratch directory (logs, reports, trees)
  -h, --help    this text

Time on two cores: sandbox about 20 minutes to mes-hello; QEMU under TCG
about 15 hours here (MesCC's libc: about 6.5 minutes per compile). The times are informational;
the exit status is 0 when every run verified and the backends agree, 1
otherwise, 2 on usage errors.
EOF
}

die() { echo "mes-x86.sh: $*" >&2; exit 1; }
usage_error() { echo "mes-x86.sh: $*" >&2; echo "run with --help for usage" >&2; exit 2; }

upstream=/root/.cache/bootchain-upstream
backends="sandbox qemu"
until_step=mes-hello
save=0
keep=0
tree=${STAGE0_POSIX:-$upstream/stage0-posix-1.9.1}
mes=${MES_TARBALL:-$upstream/distfiles/mes_0.24.2.orig.tar.gz}
nyacc=${NYACC_TARBALL:-$upstream/distfiles/nyacc-1.00.2-git-06a0985.tar.gz}

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
	--until) [ $# -ge 2 ] || usage_error "--until needs a step"; until_step=$2; shift 2 ;;
	--tree) [ $# -ge 2 ] || usage_error "--tree needs a path"; tree=$2; shift 2 ;;
	--mes) [ $# -ge 2 ] || usage_error "--mes needs a file"; mes=$2; shift 2 ;;
	--nyacc) [ $# -ge 2 ] || usage_error "--nyacc needs a file"; nyacc=$2; shift 2 ;;
	--save) save=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument $1" ;;
	esac
done

[ -d "$tree" ] || die "stage0-posix tree $tree: not a directory (give --tree)"
[ -f "$mes" ] || die "Mes archive $mes: no such file (give --mes)"
[ -f "$nyacc" ] || die "nyacc archive $nyacc: no such file (give --nyacc)"

repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /var/tmp/bootchain-bench-mes.XXXXXX)
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

# outputs R.json: SHA-256 of the sorted "<sha256>  <path>" lines of every
# output in the report (the lines inside each step's "outputs" array).
outputs() {
	awk '/^      "outputs": \[/{o=1; next}
	     o && /^      \]/{o=0}
	     o && /"path": /{gsub(/[",]/, "", $2); p=$2}
	     o && /"sha256": /{gsub(/[",]/, "", $2); print $2 "  " p}' "$1" | LC_ALL=C sort | sha256sum | cut -c1-64
}

status=0
for b in $backends; do
	mkdir -p "$scratch/$b/cache"
	echo "== $b: bootchain run --until $until_step (load average $(cut -d' ' -f1 /proc/loadavg))"
	start=$(date +%s)
	if ! XDG_CACHE_HOME="$scratch/$b/cache" "$scratch/bootchain" run --chain x86 --backend "$b" --no-cache \
		--until "$until_step" --source "stage0-posix=$tree" --source "mes=$mes" --source "nyacc=$nyacc" \
		--work "$scratch/$b/work" --report "$scratch/$b/report.json" >"$scratch/$b/stdout" 2>"$scratch/$b/stderr"; then
		echo "$b: the run failed:" >&2
		tail -5 "$scratch/$b/stderr" >&2
		status=1
	fi
	echo "$b: $(($(date +%s) - start)) s in all"
done

{
	echo "# bench/mes-x86.sh on $(date -u +%Y-%m-%d), $(nproc) cores, until $until_step"
	printf '%-12s' step
	for b in $backends; do printf ' %14s' "$b (s)"; done
	echo
	first=$(set -- $backends; echo "$1")
	if [ -f "$scratch/$first/report.json" ]; then
		steps "$scratch/$first/report.json" | while read -r name _ status; do
			[ "$status" = skipped ] && continue
			printf '%-12s' "$name"
			for b in $backends; do
				t=$(steps "$scratch/$b/report.json" 2>/dev/null | awk -v n="$name" '$1 == n {print $2 " " $3}')
				printf ' %14s' "${t:--}"
			done
			echo
		done
	fi
	for b in $backends; do
		[ -f "$scratch/$b/report.json" ] && echo "outputs $b: $(outputs "$scratch/$b/report.json")"
	done
} | tee "$scratch/summary.txt"

if [ "$(set -- $backends; echo $#)" = 2 ] && [ -f "$scratch/sandbox/report.json" ] && [ -f "$scratch/qemu/report.json" ]; then
	if [ "$(outputs "$scratch/sandbox/report.json")" = "$(outputs "$scratch/qemu/report.json")" ]; then
		echo "the backends agree on every output hash" | tee -a "$scratch/summary.txt"
	else
		echo "the backends DISAGREE on the output hashes" | tee -a "$scratch/summary.txt"
		status=1
	fi
fi
if [ "$save" = 1 ]; then
	cp "$scratch/summary.txt" "$repo/bench/results/$(date -u +%Y-%m-%d)-mes-x86-$(echo $backends | tr ' ' '+')-$until_step.txt"
fi
exit $status
