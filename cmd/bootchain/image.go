package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/image"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// stdin is where the --write confirmation is read from.
var stdin io.Reader = os.Stdin

const imageSynopsis = `[--chain x86] [--until STEP] [--unverified] [--source NAME=PATH]... [--kernel FILE] [--stub FILE] [--power-off] --out FILE
       bootchain image --bios [--chain x86] [--until STEP] [--unverified] [--source NAME=PATH]... --out FILE
       bootchain image --bios [--chain x86] [--until STEP] [--source NAME=PATH]... --result DISK [--length HEX]
       bootchain image --write DEV [--yes] FILE`

func cmdImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("image", imageSynopsis, stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	until := fs.String("until", "", "the last `STEP` the machine runs")
	unverified := fs.Bool("unverified", false, "run into the chain's unverified section too")
	sources := sourceFlags{}
	fs.Var(sources, "source", "`NAME=PATH`: supply source NAME from PATH (an archive or an unpacked tree); repeatable")
	kernel := fs.String("kernel", "", "x86-64 Linux kernel `FILE` with an EFI stub (default the newest /boot/vmlinuz-*)")
	stub := fs.String("stub", "", "systemd's UEFI stub `FILE` (default "+image.DefaultStub+")")
	powerOff := fs.Bool("power-off", false, "power the machine off at the end instead of halting (for QEMU and CI; on a machine the result disappears with the screen)")
	out := fs.String("out", "", "write the image to `FILE`")
	dev := fs.String("write", "", "write the image to the whole-disk device `DEV` (e.g. /dev/sdb)")
	yes := fs.Bool("yes", false, "with --write: do not ask for confirmation")
	bios := fs.Bool("bios", false, "a disk for a PC that boots BIOS or CSM: builder-hex0, a kernel written in hex0, runs the chain (no Linux); its source: --source builder-hex0=DIR")
	result := fs.String("result", "", "with --bios: check the result a PC wrote to the builder-hex0 `DISK` (a device or an image file) against the pins")
	length := fs.String("length", "", "with --result: the `HEX` digits the machine printed (the result's length)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *bios {
		for _, f := range []string{"kernel", "stub", "power-off", "write", "yes"} {
			if set[f] {
				return usagef("image: --%s: a --bios disk boots builder-hex0 from its boot sector: no kernel, stub or power-off (write it with --write DEV FILE afterwards)", f)
			}
		}
		switch {
		case len(pos) > 0:
			return usagef("image: unexpected argument %q", pos[0])
		case *result != "" && *out != "":
			return usagef("image: --bios takes --out FILE (build a disk) or --result DISK (check one), not both")
		case *result != "":
			return checkBIOSResult(ctx, stdout, *name, *until, *unverified, sources, *result, *length)
		case *out == "":
			return usagef("image: --bios: expected --out FILE or --result DISK")
		case set["length"]:
			return usagef("image: --length needs --result")
		}
		return buildBIOSImage(ctx, stdout, *name, *until, *unverified, sources, *out)
	}
	if *result != "" || set["length"] {
		return usagef("image: --result and --length need --bios")
	}

	switch {
	case *out == "" && *dev == "":
		return usagef("image: expected --out FILE (build an image) or --write DEV FILE (write one to a stick)")
	case *out != "" && len(pos) > 0:
		return usagef("image: unexpected argument %q: --out builds an image, FILE names one to write", pos[0])
	case *out == "" && len(pos) != 1:
		return usagef("image: --write %s: expected the image FILE to write, found %d arguments", *dev, len(pos))
	case *out == "":
		for _, f := range []string{"chain", "until", "unverified", "source", "kernel", "stub", "power-off"} {
			if set[f] {
				return usagef("image: --%s builds an image: add --out FILE, or leave it out to write FILE", f)
			}
		}
	case *yes && *dev == "":
		return usagef("image: --yes needs --write DEV")
	}

	img := *out
	if *out != "" {
		if err := buildImage(ctx, stdout, *name, *until, *unverified, sources, *kernel, *stub, *powerOff, *out); err != nil {
			return err
		}
	} else {
		img = pos[0]
	}
	if *dev == "" {
		return nil
	}
	return writeImage(ctx, stdout, stderr, img, *dev, *yes)
}

func buildImage(ctx context.Context, stdout io.Writer, name, until string, unverified bool, sources sourceFlags, kernelPath, stubPath string, powerOff bool, out string) error {
	c, err := chain.Load(name)
	if err != nil {
		return err
	}
	if until != "" && c.StepIndex(until) < 0 {
		return usagef("image: --until %s: chain %s has no such step", until, c.Name)
	}
	for n := range sources {
		if _, ok := c.Source(n); !ok {
			return usagef("image: --source %s: chain %s has no source %s", n, c.Name, n)
		}
	}
	kernelPath, err = qemu.FindKernel(kernelPath)
	if err != nil {
		return err
	}
	stubPath, err = image.FindStub(stubPath)
	if err != nil {
		return err
	}
	kernel, err := verify.ReadRegular(kernelPath, 0)
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	stub, err := verify.ReadRegular(stubPath, 0)
	if err != nil {
		return fmt.Errorf("stub: %w", err)
	}
	end := qemu.EndHalt
	if powerOff {
		end = qemu.EndPowerOff
	}
	cfg, g, err := image.ChainImage(ctx, image.ChainConfig{Chain: c, Until: until, Unverified: unverified, Sources: sources, End: end}, kernel, stub)
	if err != nil {
		return err
	}
	if err := image.Write(ctx, out, cfg); err != nil {
		return err
	}
	m, err := image.Inspect(out)
	if err != nil {
		return err
	}
	var run, notRun []string
	for _, s := range g.Steps {
		if s.NotRun == "" {
			run = append(run, s.Name)
		} else {
			notRun = append(notRun, s.Name+" ("+s.NotRun+")")
		}
	}
	fmt.Fprintf(stdout, "%s: %d bytes, sha256 %s\n", out, m.Image.Size, m.Image.SHA256)
	fmt.Fprintf(stdout, "chain %s: runs %s", c.Name, strings.Join(run, ", "))
	if len(notRun) > 0 {
		fmt.Fprintf(stdout, "; not %s", strings.Join(notRun, ", "))
	}
	fmt.Fprintf(stdout, "; then %s\n", map[bool]string{true: "powers off", false: "halts"}[powerOff])
	fmt.Fprintf(stdout, "kernel %s (%s), stub %s\n", m.KernelRelease, kernelPath, stubPath)
	fmt.Fprintf(stdout, "chain digest %s\n", c.Digest())
	fmt.Fprintf(stdout, "  the machine shows it as %s\n", strings.Join(qemu.DigestGroups(c.Digest()), " "))
	return nil
}

func writeImage(ctx context.Context, stdout, stderr io.Writer, img, dev string, yes bool) error {
	m, err := image.Inspect(img)
	if err != nil {
		// A builder-hex0 BIOS disk (image --bios) is written as it is.
		d, berr := builderhex0.Inspect(img)
		if berr != nil || !d.Boot {
			return err
		}
		m = &image.Manifest{Image: image.Blob{Size: d.Size}}
		if m.Image.SHA256, err = verify.File(img); err != nil {
			return err
		}
	}
	d, err := image.CheckWritable(dev)
	if err != nil {
		return fmt.Errorf("%w; nothing was written", err)
	}
	if d.Size < m.Image.Size {
		return fmt.Errorf("--write %s: the device holds %d bytes, the image is %d; nothing was written", dev, d.Size, m.Image.Size)
	}
	fmt.Fprintf(stderr, "bootchain: about to write %s (%d bytes", img, m.Image.Size)
	if c := image.ChainField(m.OSRelease, image.FieldChain); c != "" {
		fmt.Fprintf(stderr, ", chain %s", c)
	}
	fmt.Fprintf(stderr, ") to\n  %s\nEverything on that disk will be lost.\n", d)
	if !yes {
		fmt.Fprintf(stderr, "Type yes to write it: ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(stderr)
			return failure{errors.New("not confirmed")}
		}
	}
	var progress func(done, total int64)
	if isTerminal(stderr) {
		phase, last := "writing", int64(-1)
		progress = func(done, total int64) {
			if done < last {
				phase = "reading back"
			}
			last = done
			fmt.Fprintf(stderr, "\r%s %3d%%\x1b[K", phase, done*100/max(total, 1))
		}
	}
	err = image.WriteDevice(ctx, img, dev, progress)
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: written and read back, sha256 %s\n", dev, m.Image.SHA256)
	return nil
}

func cmdVerifyImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify-image", "[--chain NAME [--until STEP] [--unverified] [--power-off] [--source NAME=PATH]...] FILE", stderr)
	name := fs.String("chain", "", "also check that the initramfs and command line are exactly those bootchain builds for this `CHAIN`")
	until := fs.String("until", "", "with --chain: as built with --until `STEP`")
	unverified := fs.Bool("unverified", false, "with --chain: as built with --unverified")
	powerOff := fs.Bool("power-off", false, "with --chain: as built with --power-off")
	sources := sourceFlags{}
	fs.Var(sources, "source", "with --chain: `NAME=PATH` supplies source NAME from PATH; repeatable")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("verify-image: expected one image file or device, found %d arguments", len(pos))
	}
	if *name == "" && (*until != "" || *unverified || *powerOff || len(sources) > 0) {
		return usagef("verify-image: --until, --unverified, --power-off and --source need --chain")
	}
	m, err := image.Inspect(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, m.String())
	if c := image.ChainField(m.OSRelease, image.FieldChain); c != "" {
		fmt.Fprintf(stdout, "chain      %s, runs %s, then %s\n", c, image.ChainField(m.OSRelease, image.FieldSteps), image.ChainField(m.OSRelease, image.FieldEnd))
		fmt.Fprintf(stdout, "digest     %s\n", image.ChainField(m.OSRelease, image.FieldDigest))
	}
	if *name == "" {
		return nil
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	if *until != "" && c.StepIndex(*until) < 0 {
		return usagef("verify-image: --until %s: chain %s has no such step", *until, c.Name)
	}
	end := qemu.EndHalt
	if *powerOff {
		end = qemu.EndPowerOff
	}
	want, _, err := image.ChainImage(ctx, image.ChainConfig{Chain: c, Until: *until, Unverified: *unverified, Sources: sources, End: end}, nil, nil)
	if err != nil {
		return err
	}
	var bad []string
	if got := imageHash(want.Initramfs); got != m.Initramfs.SHA256 {
		bad = append(bad, fmt.Sprintf("initramfs: sha256 is %s, expected %s", m.Initramfs.SHA256, got))
	}
	if want.Cmdline != m.Cmdline {
		bad = append(bad, fmt.Sprintf("cmdline: %q, expected %q", m.Cmdline, want.Cmdline))
	}
	if want.OSRelease != m.OSRelease {
		bad = append(bad, fmt.Sprintf("os-release: %q, expected %q", m.OSRelease, want.OSRelease))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: not the image of chain %s as bootchain builds it here:\n  %s", pos[0], c.Name, strings.Join(bad, "\n  "))
	}
	fmt.Fprintf(stdout, "%s: initramfs, command line and os-release are exactly those of chain %s (digest %s); the kernel and stub are as listed above\n", pos[0], c.Name, c.Digest())
	return nil
}

func imageHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
