#!/usr/bin/env bash
# builder-hex0-x86.sh: time the x86 chain on builder-hex0 (a kernel written
# in hex0) next to the Linux QEMU guest, both under TCG, in one invocation
# (issue 16, acceptance 4). See usage() below.

set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/builder-hex0-x86.sh [--from STEP] [--until STEP] [--runs N]
                                 [--kernel builder-hex0|bootchain]
                                 [--source NAME=PATH]... [--save] [--keep]
       bench/builder-hex0-x86.sh --summarize DIR [--from STEP] [--until STEP] [--save]

Runs, back to back on this machine, for each run (odd runs builder-hex0
first, even runs the Linux guest first, so both see about the same load):

  bootchain run --chain x86 --backend builder-hex0 --accel tcg --no-cache [--from STEP] --until STEP ...
  bootchain run --chain x86 --backend qemu         --accel tcg --no-cache [--from STEP] --until STEP ...

(--no-cache: every step from --from on runs in the guest; the sources come
from the cache or from --source, e.g. --source builder-hex0=DIR the first
time; with --from the earlier steps' outputs come from the cache, placed
and re-hashed, and the guest loads and checks them before the first step).
Then prints each step's wall time per backend (from the reports), each
command's whole wall time (boot and loading included) and the time before
the first step, the 1-minute load average before each command, and whether
both reports verified every output against its pin and hold the same
output hashes (the SHA-256 of the sorted "<sha256>  <path>" lines).

options:
  --from STEP         first step (default: the first, seed)
  --until STEP        last step (default full: stage0); e.g. --from mes-m2
                      --until mes for GNU Mes's interpreter (give --source
                      mes=... and nyacc=... unless they are in the cache)
  --runs N            repeat N times, alternating the order (default 1)
  --kernel KERNEL     the builder-hex0 backend's kernel: builder-hex0
                      (upstream's, the default) or bootchain (our own)
  --source NAME=PATH  passed to both runs (builder-hex0's only to its run)
  --save              also write bench/results/<YYYY-MM-DD>-builder-hex0-x86-<until>.txt
  --keep              keep the scratch directory (logs, reports)
  --summarize DIR     run nothing: print the summary again from DIR, the
                      scratch directory of an earlier invocation with --keep
                      (give its --from and --until again)
  -h, --help          this text

Time on two cores under TCG: about 10-20 minutes per builder-hex0 run to
full and 5-8 for the Linux guest. The times are informational; the exit
status is 0 when every run verified and both backends agree, 1 otherwise,
2 on usage errors.
EOF
}

die() { echo "builder-hex0-x86.sh: $*" >&2; exit 1; }
usage_error() { echo "builder-hex0-x86.sh: $*" >&2; echo "run with --help for usage" >&2; exit 2; }

until_step=full
from=()
from_name=""
runs=1
save=0
keep=0
summarize=""
sources=()
hex0_source=()
kernel=builder-hex0
while [ $# -gt 0 ]; do
	case $1 in
	--until) [ $# -ge 2 ] || usage_error "--until needs a step"; until_step=$2; shift 2 ;;
	--from) [ $# -ge 2 ] || usage_error "--from needs a step"; from=(--from "$2"); from_name=$2-; shift 2 ;;
	--runs) [ $# -ge 2 ] || usage_error "--runs needs a number"; runs=$2; shift 2 ;;
	--source)
		[ $# -ge 2 ] || usage_error "--source needs NAME=PATH"
		case $2 in
		builder-hex0=*) hex0_source=(--source "$2") ;;
		?*=?*) sources+=(--source "$2") ;;
		*) usage_error "--source $2: expected NAME=PATH" ;;
		esac
		shift 2 ;;
	--kernel)
		[ $# -ge 2 ] || usage_error "--kernel needs builder-hex0 or bootchain"
		case $2 in
		builder-hex0 | bootchain) kernel=$2 ;;
		*) usage_error "--kernel $2: expected builder-hex0 or bootchain" ;;
		esac
		shift 2 ;;
	--save) save=1; shift ;;
	--keep) keep=1; shift ;;
	--summarize) [ $# -ge 2 ] || usage_error "--summarize needs a directory"; summarize=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unexpected argument $1" ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) usage_error "--runs $runs: expected a positive integer" ;; esac
for t in go jq sha256sum qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t: not found on PATH"
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "$summarize" ]; then
	scratch=$summarize
	[ -f "$scratch/times" ] || die "--summarize $scratch: no times file there; expected the scratch directory of a run with --keep"
	runs=$(awk '{ print $1 }' "$scratch/times" | sort -n | tail -1)
	[ -n "$runs" ] || die "--summarize $scratch: its times file is empty"
elif scratch=$(mktemp -d /var/tmp/bootchain-bench-hex0.XXXXXX) && [ "$keep" = 1 ]; then
	echo "scratch: $scratch" >&2
else
	trap 'rm -rf "$scratch"' EXIT
fi
trap 'exit 130' INT TERM
bin=$scratch/bootchain
if [ -z "$summarize" ]; then
	echo "building bootchain (not timed)" >&2
	(cd "$repo" && go build -o "$bin" ./cmd/bootchain) || die "go build ./cmd/bootchain failed"
	git -C "$repo" rev-parse --short HEAD >"$scratch/rev" 2>/dev/null || echo unknown >"$scratch/rev"
fi

load1() { cut -d' ' -f1 /proc/loadavg; }
# ran: the steps of a report that ran (not placed from the cache, skipped or
# not requested).
ran='.steps[] | select(.status == "ok" or .status == "failed" or .status == "unverified")'
# outputs R.json: the SHA-256 of the sorted "<sha256>  <path>" lines of every
# output of the steps that ran.
outputs() { jq -r "$ran"' | .outputs[] | "\(.sha256)  \(.path)"' "$1" | LC_ALL=C sort | sha256sum | cut -c1-64; }
noutputs() { jq "[$ran | .outputs[]] | length" "$1"; }

status=0
[ -n "$summarize" ] || : >"$scratch/times"
# one RUN BACKEND: one timed bootchain run; its report is $scratch/BACKEND-RUN.json.
one() {
	local run=$1 b=$2 l start end rc extra=()
	[ "$b" = builder-hex0 ] && extra=(--kernel "$kernel" "${hex0_source[@]}")
	l=$(load1)
	echo "run $run, $b: bootchain run ${from[*]} --until $until_step (load $l) ..." >&2
	start=$(date +%s.%N)
	# The load while it runs: the 1-minute load average every 15 s.
	(while :; do load1 >>"$scratch/$b-$run.load"; sleep 15; done) &
	local sampler=$!
	set +e
	"$bin" run --chain x86 --backend "$b" --accel tcg --no-cache "${from[@]}" --until "$until_step" \
		"${sources[@]}" "${extra[@]}" --work "$scratch/$b-$run.work" --report "$scratch/$b-$run.json" \
		>"$scratch/$b-$run.out" 2>"$scratch/$b-$run.err"
	rc=$?
	set -e
	end=$(date +%s.%N)
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	rm -rf "$scratch/$b-$run.work"
	if [ $rc -ne 0 ]; then
		echo "run $run, $b: exit $rc:" >&2
		tail -5 "$scratch/$b-$run.err" >&2
		status=1
	fi
	echo "$run $b $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }') $l $rc" >>"$scratch/times"
	echo "run $run, $b: $(tail -1 "$scratch/times" | cut -d' ' -f3) s" >&2
}

for run in $(seq 1 "$runs"); do
	[ -z "$summarize" ] || break
	if [ $((run % 2)) = 1 ]; then
		one "$run" builder-hex0
		one "$run" qemu
	else
		one "$run" qemu
		one "$run" builder-hex0
	fi
done

rev=$(cat "$scratch/rev" 2>/dev/null || echo unknown)
awk '$5 != 0 { bad = 1 } END { exit bad }' "$scratch/times" || status=1
{
	echo "# bench/builder-hex0-x86.sh ${from[*]} --until $until_step --runs $runs --kernel $kernel: x86 chain, builder-hex0 vs the Linux guest, both QEMU TCG, --no-cache"
	echo "# $(date -u +%FT%TZ); $(uname -srm); $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); $(qemu-system-x86_64 --version | head -1); bootchain $rev"
	for run in $(seq 1 "$runs"); do
		hb=$scratch/builder-hex0-$run.json
		qm=$scratch/qemu-$run.json
		echo
		echo "run $run (order as run: $(awk -v r="$run" '$1 == r { printf "%s%s", s, $2; s = ", " }' "$scratch/times"))"
		printf '  %-26s %14s %14s\n' step "builder-hex0" "Linux guest"
		if [ -f "$hb" ] && [ -f "$qm" ]; then
			jq -r "$ran"' | .name' "$hb" | while read -r name; do
				printf '  %-26s' "$name"
				for r in "$hb" "$qm"; do
					printf ' %14s' "$(jq -r --arg n "$name" '.steps[] | select(.name == $n) | "\(.seconds * 10 | round / 10) s\(if .status == "ok" then "" else " " + .status end)"' "$r")"
				done
				echo
			done
			for what in "steps in all" "before the first step" "whole command" "load1 before" "load1 during"; do
				printf '  %-26s' "$what"
				for b in builder-hex0 qemu; do
					r=$scratch/$b-$run.json
					wall=$(awk -v r="$run" -v b="$b" '$1 == r && $2 == b { print $3 }' "$scratch/times")
					steps=$(jq "[$ran | .seconds] | add" "$r")
					case $what in
					"steps in all") v=$(awk -v s="$steps" 'BEGIN { printf "%.1f s", s }') ;;
					"before the first step") v=$(awk -v w="$wall" -v s="$steps" 'BEGIN { printf "%.1f s", w - s }') ;;
					"whole command") v=$(awk -v w="$wall" 'BEGIN { printf "%.1f s (%dm%02ds)", w, w / 60, w % 60 }') ;;
					"load1 before") v=$(awk -v r="$run" -v b="$b" '$1 == r && $2 == b { print $4 }' "$scratch/times") ;;
					"load1 during")
						v=-
						[ -s "$scratch/$b-$run.load" ] && v=$(sort -g "$scratch/$b-$run.load" | awk '{ a[NR] = $1; t += $1 } END { printf "%.1f (%s-%s)", t / NR, a[1], a[NR] }')
						;;
					esac
					printf ' %14s' "$v"
				done
				echo
			done
			for b in builder-hex0 qemu; do
				r=$scratch/$b-$run.json
				echo "  $b: report ok=$(jq .ok "$r"), $(noutputs "$r") outputs, $(jq "[$ran | .outputs[] | select(.ok and .sha256 == .expected)] | length" "$r") equal to their pins, their hash list $(outputs "$r")"
			done
			if [ "$(outputs "$hb")" = "$(outputs "$qm")" ] && jq -e .ok "$hb" >/dev/null && jq -e .ok "$qm" >/dev/null; then
				echo "  both backends verified every output and agree on every hash"
			else
				echo "  the backends DISAGREE or a run did not verify"
				status=1
			fi
		else
			echo "  no report from:$(for r in "$hb" "$qm"; do [ -f "$r" ] || printf ' %s' "$(basename "$r")"; done) (the run failed or is still going)"
			status=1
		fi
	done
	echo
	echo "load: other work shares this machine; load1 before is the 1-minute load average just before each command, load1 during its mean (min-max) sampled every 15 s"
} | tee "$scratch/summary.txt"

kernel_name=""
[ "$kernel" = builder-hex0 ] || kernel_name=$kernel-
if [ "$save" = 1 ]; then
	mkdir -p "$repo/bench/results"
	dst=$repo/bench/results/$(date -u +%F)-builder-hex0-x86-$kernel_name$from_name$until_step.txt
	tmp=$(mktemp "$repo/bench/results/.builder-hex0-x86.XXXXXX")
	cp "$scratch/summary.txt" "$tmp"
	chmod 644 "$tmp"
	mv "$tmp" "$dst"
	echo "saved $dst" >&2
fi
exit $status
