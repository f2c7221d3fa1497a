// Package bench holds benchmarks of whole bootchain runs: Go benchmarks of
// the offline fixture chain through the engine (run in CI with
// `go test -bench . -benchtime 1x ./bench/`), and stage0-x86.sh, which
// compares `bootchain run --chain x86` with upstream's own chroot run of the
// same stage0-posix tree; builder-hex0-x86.sh runs the x86 chain on
// builder-hex0 and in the Linux QEMU guest back to back, both under TCG.
// Benchmarks report times; they never assert on them, only on the run's
// result.
package bench
