#!/usr/bin/env bash
# stage0-x86.sh: compare `bootchain run --chain x86` with a plain chroot run
# of the same stage0-posix 1.9.1 tree, in one invocation on one machine
# (issue 3, acceptance 2 and 6). See usage() below.

set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/stage0-x86.sh [--runs N] [--save] [--tree PATH] [--disk-dir DIR] [--keep]

Measures, on this machine and in this one invocation, the wall time of:

  chroot <fs>     upstream's own way: a copy of the stage0-posix 1.9.1 tree with
                  upstream's seeds, run as
                    env -i /usr/sbin/chroot COPY /bootstrap-seeds/POSIX/x86/kaem-optional-seed
                  (reads kaem.x86). The copy is made (untimed) on the file system
                  bootchain builds its step roots on ($TMPDIR if set, else /dev/shm
                  when it is a writable tmpfs, as engine.scratchBase decides) and, when that
                  is a different file system type, also on disk (--disk-dir).
  bootchain cold  bootchain run --chain x86 --backend sandbox --no-cache
                  --source stage0-posix=TREE --work W --report R.json, with a
                  fresh, empty XDG_CACHE_HOME: every step runs and is verified
                  (pins, inputs re-hashed, Go-twin re-derivation, store write).
  bootchain warm  the same command again without --no-cache, same cache:
                  every step must come from the store.

and prints a table plus the ratios the issue asks for:
  cold / chroot (same fs type as the step roots)   acceptance: <= 1.10
  warm / cold                                      acceptance: <  5%

The bootchain binary is built once beforehand with `go build -o` (not timed).
Measurements are alternated between runs (odd runs: chroot first; even runs:
bootchain first) and the 1-minute load average is recorded before each one,
since other work may share the machine. Wall times on a loaded machine are
noisy: the verdicts are informational and do not change the exit status.

options:
  --runs N        repeat the whole set N times (default 1); the summary uses medians
  --save          also write bench/results/<YYYY-MM-DD>-stage0-x86.txt
  --tree PATH     unpacked stage0-posix 1.9.1 tree with its submodules
                  (default: $STAGE0_POSIX, else /root/.cache/bootchain-upstream/stage0-posix-1.9.1)
  --disk-dir DIR  where the on-disk chroot copy and bootchain's cache/work dirs go
                  (default: /var/tmp)
  --keep          keep the scratch directories (logs, reports, trees) for inspection
  -h, --help      this text

Needs root (chroot) and about 6-8 minutes per run on two cores. Exit status:
0 when every measurement ran and checked out, 1 when one failed, 2 on usage errors.
EOF
}

die() { echo "stage0-x86.sh: $*" >&2; exit 1; }
usage_error() { echo "stage0-x86.sh: $*" >&2; echo "run with --help for usage" >&2; exit 2; }

runs=1
save=0
keep=0
tree=${STAGE0_POSIX:-/root/.cache/bootchain-upstream/stage0-posix-1.9.1}
disk_dir=/var/tmp
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || usage_error "--runs needs a number"; runs=$2; shift 2 ;;
	--runs=*) runs=${1#*=}; shift ;;
	--save) save=1; shift ;;
	--tree) [ $# -ge 2 ] || usage_error "--tree needs a path"; tree=$2; shift 2 ;;
	--tree=*) tree=${1#*=}; shift ;;
	--disk-dir) [ $# -ge 2 ] || usage_error "--disk-dir needs a directory"; disk_dir=$2; shift 2 ;;
	--disk-dir=*) disk_dir=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unexpected argument $1" ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) usage_error "--runs $runs: expected a positive integer" ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || die "the chroot baseline needs root (run as root)"
[ -x /usr/sbin/chroot ] || die "/usr/sbin/chroot: not found; install coreutils"
for t in go jq sha256sum; do
	command -v "$t" >/dev/null || die "$t: not found on PATH"
done
tree=$(cd "$tree" 2>/dev/null && pwd) || die "--tree: $tree: no such directory; pass an unpacked stage0-posix 1.9.1 tree (or set STAGE0_POSIX)"
for f in kaem.x86 x86.answers bootstrap-seeds/POSIX/x86/kaem-optional-seed x86/mescc-tools-mini-kaem.kaem M2-Planet/cc.c; do
	[ -e "$tree/$f" ] || die "--tree $tree: $f is missing; expected an unpacked stage0-posix 1.9.1 tree with its submodules"
done
mkdir -p "$disk_dir" || die "--disk-dir $disk_dir: cannot create it"

fstype() { stat -f -c %T "$1"; }
# fslabel DIR: "tmpfs" for memory, else "disk" (the type is in the header).
fslabel() { if [ "$(fstype "$1")" = tmpfs ]; then echo tmpfs; else echo disk; fi; }

# Where bootchain builds its step roots: the same rule as engine.scratchBase.
if [ -n "${TMPDIR:-}" ]; then
	roots_dir=$TMPDIR
elif [ "$(fstype /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
	roots_dir=/dev/shm
else
	roots_dir=${TMPDIR:-/tmp}
fi
roots_label=$(fslabel "$roots_dir")
# The chroot copies: always on the step roots' kind of file system; also on
# disk when that is a different kind.
base_dirs=("$roots_dir")
[ "$(fslabel "$disk_dir")" != "$roots_label" ] && base_dirs+=("$disk_dir")

scratch=$(mktemp -d "$disk_dir/bootchain-bench.XXXXXX")
declare -A chroot_scratch
for b in "${base_dirs[@]}"; do
	chroot_scratch[$b]=$(mktemp -d "$b/bootchain-bench-chroot.XXXXXX")
done
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "kept: $scratch ${chroot_scratch[*]}" >&2
	else
		rm -rf "$scratch" "${chroot_scratch[@]}"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out="$scratch/results.txt"
: >"$out"
say() { printf '%s\n' "$*" | tee -a "$out"; }
log() { printf '%s\n' "$*" >&2; }

bin="$scratch/bootchain"
log "building bootchain (not timed): go build -o $bin ./cmd/bootchain"
(cd "$repo" && go build -o "$bin" ./cmd/bootchain) || die "go build ./cmd/bootchain failed"

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -1)" ] && dirty="+uncommitted changes"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

load1() { cut -d' ' -f1 /proc/loadavg; }

# measure NAME LOGFILE CMD...: runs CMD with its output in LOGFILE, appends
# "NAME run wall user sys load" to $scratch/times and fails on a non-zero exit.
measure() {
	local name=$1 logf=$2 l t rc
	shift 2
	l=$(load1)
	log "  [run $run] $name: load $l ($(uptime | sed 's/.*load average: //')) ..."
	local TIMEFORMAT='%R %U %S'
	set +e
	t=$({ time "$@" >"$logf" 2>&1; } 2>&1)
	rc=$?
	set -e
	# `time` prints its line last; the command's own output went to logf.
	t=$(printf '%s\n' "$t" | tail -1)
	if [ $rc -ne 0 ]; then
		tail -40 "$logf" >&2
		die "$name (run $run) exited $rc; log: $logf (use --keep to keep it)"
	fi
	log "  [run $run] $name: ${t%% *} s"
	echo "$name $run $t $l" >>"$scratch/times"
}

chroot_run() { # BASE: one timed chroot run of a fresh copy of the tree under BASE
	local base=$1 dir name
	name=chroot-$(fslabel "$base")
	dir=$(mktemp -d "${chroot_scratch[$base]}/tree.XXXXXX")
	cp -a "$tree/." "$dir/"
	sync
	measure "$name" "$scratch/$name-$run.log" \
		env -i /usr/sbin/chroot "$dir" /bootstrap-seeds/POSIX/x86/kaem-optional-seed
	# kaem.x86 ends by checking x86.answers and running after.kaem.
	grep -q 'Replace me if you wish to do more' "$scratch/$name-$run.log" ||
		die "$name run $run did not reach after.kaem; see $scratch/$name-$run.log"
	rm -rf "$dir"
}

bootchain_runs() {
	local cache="$scratch/xdg-cache-$run" w
	rm -rf "$cache"
	mkdir -p "$cache"
	for kind in cold warm; do
		w="$scratch/work-$kind-$run"
		rm -rf "$w"
		local flags=()
		[ $kind = cold ] && flags=(--no-cache)
		measure "bootchain-$kind" "$scratch/bootchain-$kind-$run.log" \
			env XDG_CACHE_HOME="$cache" "$bin" run --chain x86 --backend sandbox \
			--source stage0-posix="$tree" --work "$w" --report "$scratch/report-$kind-$run.json" "${flags[@]}"
		local rep="$scratch/report-$kind-$run.json"
		jq -e '.ok' "$rep" >/dev/null || die "bootchain $kind run $run: report says not ok: $rep"
		local want=false
		[ $kind = warm ] && want=true
		jq -e --argjson w $want 'all(.steps[]; .status == "ok" and .cached == $w)' "$rep" >/dev/null ||
			die "bootchain $kind run $run: expected every step ok with cached=$want, found: $(jq -c '[.steps[]|{name,status,cached}]' "$rep")"
		(cd "$w" && sha256sum --quiet -c x86.answers) >/dev/null ||
			die "bootchain $kind run $run: sha256sum -c x86.answers fails in $w"
		jq -r --arg k "$kind" --arg r "$run" '.steps[] | "\($k) \($r) \(.name) \(.seconds)"' "$rep" >>"$scratch/steps"
		[ $kind = cold ] && du -sk "$cache" | cut -f1 >"$scratch/store-kb"
	done
	rm -rf "$cache" "$scratch"/work-*-"$run"
}

: >"$scratch/times"
: >"$scratch/steps"
log "stage0-x86 benchmark: $runs run(s); tree $tree; step roots on $roots_dir ($roots_label)"
for run in $(seq 1 "$runs"); do
	if [ $((run % 2)) = 1 ]; then
		for b in "${base_dirs[@]}"; do chroot_run "$b"; done
		bootchain_runs
	else
		bootchain_runs
		for ((i = ${#base_dirs[@]} - 1; i >= 0; i--)); do chroot_run "${base_dirs[$i]}"; done
	fi
done

median() { # NAME [cpu] -> median wall (or user+sys) seconds of NAME over the runs
	awk -v n="$1" -v cpu="${2:-}" '$1 == n { print (cpu ? $4 + $5 : $3) }' "$scratch/times" | sort -g |
		awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

say "stage0-posix 1.9.1 x86: bootchain run (sandbox) vs. a plain chroot"
say "date $(date -u +%FT%TZ); $(uname -srm); $(nproc) cores ($cpu); $(go version | cut -d' ' -f3)"
say "bootchain $rev${dirty:+ ($dirty)}; tree $tree"
say "bootchain step roots: $roots_dir ($(fstype "$roots_dir")); chroot copies in:$(for b in "${base_dirs[@]}"; do printf ' %s (%s)' "$b" "$(fstype "$b")"; done)"
say ""
say "$(printf '%-4s %-16s %9s %9s %9s %9s  %s' run measurement wall_s user_s sys_s load1 "(order as measured; load1 = 1-min load average just before)")"
while read -r name r wall user sys l; do
	say "$(printf '%-4s %-16s %9.2f %9.2f %9.2f %9s' "$r" "$name" "$wall" "$user" "$sys" "$l")"
done <"$scratch/times"
say ""
say "bootchain per-step wall times from the report JSON (s):"
while read -r kind r; do
	say "  $kind run $r: $(awk -v k="$kind" -v r="$r" '$1 == k && $2 == r { printf "%s%s %.2f", sep, $3, $4; sep = "  " }' "$scratch/steps")"
done < <(awk '{ print $1, $2 }' "$scratch/steps" | uniq)
say "  store after a cold run: $(cat "$scratch/store-kb") KiB"
say ""
cold=$(median bootchain-cold)
warm=$(median bootchain-warm)
say "summary (median of $runs run(s), seconds):"
say "$(printf '  %-16s %8s %8s' "" wall user+sys)"
for name in $(for b in "${base_dirs[@]}"; do echo "chroot-$(fslabel "$b")"; done) bootchain-cold bootchain-warm; do
	say "$(printf '  %-16s %8.2f %8.2f' "$name" "$(median "$name")" "$(median "$name" cpu)")"
done
say ""
for b in "${base_dirs[@]}"; do
	l=$(fslabel "$b")
	ratio=$(awk -v c="$cold" -v b="$(median "chroot-$l")" 'BEGIN { printf "%.3f", c / b }')
	if [ "$l" = "$roots_label" ]; then
		verdict="$(awk -v r="$ratio" 'BEGIN { print (r <= 1.10 ? "PASS" : "FAIL") }') (at most 1.10; the chroot copy on the step roots' kind of file system)"
	else
		verdict="(for reference: a chroot copy on $l)"
	fi
	say "  bootchain-cold / chroot-$l = $ratio $verdict"
	say "    (user+sys ratio $(awk -v c="$(median bootchain-cold cpu)" -v b="$(median "chroot-$l" cpu)" 'BEGIN { printf "%.3f", c / b }'): less sensitive to other load on the machine)"
done
wr=$(awk -v w="$warm" -v c="$cold" 'BEGIN { printf "%.2f", 100 * w / c }')
say "  bootchain-warm / bootchain-cold = $wr% $(awk -v r="$wr" 'BEGIN { print (r < 5 ? "PASS" : "FAIL") }') (under 5%)"
say ""
say "reproduce: bench/stage0-x86.sh --runs $runs --tree $tree"

if [ "$save" = 1 ]; then
	mkdir -p "$repo/bench/results"
	dst="$repo/bench/results/$(date +%F)-stage0-x86.txt"
	tmp=$(mktemp "$repo/bench/results/.stage0-x86.XXXXXX")
	cp "$out" "$tmp"
	chmod 644 "$tmp"
	sync "$tmp"
	mv "$tmp" "$dst"
	log "saved $dst"
fi
