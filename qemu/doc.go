// Package qemu runs bootchain steps in a QEMU guest whose only userland is
// the seeds, and carries their outputs back to the host over a serial port.
//
// Start boots a VM (functional options: kernel, initramfs, memory, CPUs,
// console writer, idle timeout, extra kernel arguments, accelerator). It
// finds qemu-system-x86_64 and a kernel, probes KVM for real and falls back
// to TCG with one log line, and on TCG boots the kernel's uncompressed ELF
// through PVH (unpacked on the host) to skip seconds of emulated
// decompression. The console (ttyS0) and the data channel (ttyS1) are
// socket pairs handed to QEMU as file descriptors. Wait turns the guest's
// end into one-line errors: init's normal exit 0 is success; a failed init,
// a kernel panic, an idle guest, a QEMU crash and cancellation each have
// their own type. QEMU runs in its own process group with SIGKILL as its
// parent-death signal, so it never outlives bootchain.
//
// RunSteps builds on it: it writes a Guest's initramfs (its files, device
// nodes, catm's source, marker files and a kaem script), boots it, follows
// the protocol below, hashes every output on the host and reports events as
// they happen, including pauses before each step for an auditor.
//
// # Protocol
//
// The guest has no drivers but its serial ports and no program but the seeds,
// so the protocol is built from what the seeds can do. ttyS0 is the console;
// ttyS1 is the data channel. The host writes, into the initramfs, a set of
// small marker files under /bootchain/frame/ and a kaem script (/kaem.x86)
// that the kaem seed runs as init. Before anything else the script assembles
// catm (qemu/guest/x86/catm.hex0, ours) with the hex0 seed; from then on every
// message to the host is one catm command writing marker files, and output
// files between them, to /dev/ttyS1:
//
//	catm /dev/ttyS1 /bootchain/frame/hello               guest is up, catm works
//	catm /dev/ttyS1 /bootchain/frame/wait-N /dev/ttyS1   (pausing only) wait for the host
//	catm /dev/ttyS1 /bootchain/frame/begin-N             step N starts
//	<step N's command>
//	catm /dev/ttyS1 /bootchain/frame/end-N               step N's command exited 0
//	catm /dev/ttyS1 /bootchain/frame/out-N-K <path> /bootchain/frame/close-N-K
//	                                                     output K of step N, for each K
//	catm /dev/ttyS1 /bootchain/frame/done                every step ran
//
// Steps and outputs are numbered from 1. Every marker is one line of text,
//
//	bootchain-frame NONCE KIND N [K [PATH]]\n
//
// with KIND one of hello, wait, begin, end, out, /out (the close marker,
// which starts with an extra "\n" so that raw dumps stay readable) and done.
// NONCE is 32 hex digits derived from a key (the chain digest, or the step
// list), so a marker cannot appear by accident, and an output's payload is
// exactly the bytes between its out marker and the first occurrence of its
// close marker. The host knows the plan, so it checks that frames arrive in
// the order above and that each out frame carries the path it asked for; an
// output that contained its own close marker would be cut short and then
// fail its pin, never pass it.
//
// What the tty does to the bytes: /dev/ttyS1 keeps the kernel's default
// termios, whose output processing is OPOST|ONLCR, so every "\n" the guest
// writes reaches the host as "\r\n" and nothing else changes (no tab
// expansion, no CR mapping, 8-bit clean: checked by a boot test that sends
// all 256 byte values and long runs of each). The decoder undoes exactly
// that: it drops a "\r" that is immediately followed by "\n". A "\n" that is
// not preceded by "\r" cannot come out of that tty, so it is an error: the
// line discipline was not the one assumed.
//
// Waiting: to pause before step N the guest runs catm with /dev/ttyS1 as both
// output and last input. The output descriptor keeps the port open, so input
// the host sends after seeing the wait marker is buffered by the tty; the
// host sends a single ^D (VEOF), which a canonical tty turns into end of
// file, catm exits 0, and the script goes on. Canonical mode does not echo
// ^D, so nothing comes back.
//
// The host hashes every output itself; a guest with only the seeds has no
// hashing tool, so there is no second opinion from the guest yet.
//
// # Limits
//
// Steps run one after another in one guest, all with working directory /
// (the kaem seed cannot change directory) and the environment of init:
// HOME=/, TERM=linux and Guest.Env. Arguments cannot contain what the kaem
// seed treats specially (blanks, '"', '#', '\'). The 16550 UART that carries
// the data moves about 190 KiB/s under TCG (measured: 4 MiB in 22 s), which
// is plenty for stage0's outputs and slow for a compiler's.
package qemu
