package builderhex0

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
)

// Paths the backend adds to the guest root, beside package qemu's.
const (
	guestDir   = qemu.GuestDir
	catmPath   = "/" + guestDir + "/catm"
	catmHex0   = "/" + guestDir + "/catm.hex0"
	frameDir   = "/" + guestDir + "/frame"
	resultDir  = "/" + guestDir + "/r"
	seedDir    = "/" + guestDir + "/seed"
	scriptPath = "/" + guestDir + "/run.kaem"
	finishPath = "/" + guestDir + "/finish.kaem"
	joinPath   = "/" + guestDir + "/join.kaem"
	// echoTTY is where the step markers go: a file in builder-hex0's
	// memory, named as the QEMU guest's data channel so the kaem seed's
	// echo of each marker is the line package engine follows.
	echoTTY = "/dev/ttyS1"
	hdaPath = "/dev/hda" // the file the kernel writes back to the disk
)

// outputsPerLine bounds the outputs one catm command appends to the
// result, keeping each command line short.
const outputsPerLine = 8

// Script returns the build script the kernel's shell runs from sector
// ScriptSector: the root of g loaded with `src` (each seed that is
// bootchain's own is assembled from its commented hex0 source with the
// kernel's `hex0` command instead, so the guest receives no binary),
// catm assembled likewise, the marker files, and the kaem seed running
// run.kaem (RunScript).
func Script(g qemu.Guest) ([]byte, error) {
	if g.Arch != "" && g.Arch != "x86" {
		return nil, fmt.Errorf("builder-hex0 runs i386 programs only; chain arch %s cannot run on it", g.Arch)
	}
	if len(g.Env) > 0 {
		return nil, errors.New("builder-hex0: the kernel's shell starts the kaem seed with an empty environment; guest environment variables cannot be passed")
	}
	if g.Pause {
		return nil, errors.New("builder-hex0: the guest cannot wait for the host between steps (its results come back when the machine stops); use --backend qemu or sandbox to step through a chain")
	}
	kaem, err := initramfs.Clean(g.Kaem)
	if err != nil {
		return nil, fmt.Errorf("builder-hex0: kaem seed: %w", err)
	}
	hex0Seed, err := initramfs.Clean(g.Hex0)
	if err != nil {
		return nil, fmt.Errorf("builder-hex0: hex0 seed: %w", err)
	}
	seedName := map[string]string{kaem: hex0.KaemSeed, hex0Seed: hex0.HexSeed}
	run, err := RunScript(g)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	dirs := map[string]bool{}
	mkdir := func(p string) {
		var todo []string
		for d := path.Dir(p); d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
			todo = append(todo, d)
		}
		for _, d := range slices.Backward(todo) {
			dirs[d] = true
			fmt.Fprintf(&b, "src 0 %s\n", d)
		}
	}
	src := func(p string, data []byte) error {
		if err := shellToken(p); err != nil {
			return err
		}
		mkdir(p)
		fmt.Fprintf(&b, "src %d %s\n", len(data), p)
		b.Write(data)
		return nil
	}
	// chdir looks its target up as a file of length 0: the root too,
	// which a `cd ..` back to / needs (stage0's kaem.run does one).
	b.WriteString("src 0 /\nsrc 0 /dev\n")
	dirs["/dev"] = true
	var assembled []string
	for _, e := range g.Files {
		switch e := e.(type) {
		case initramfs.Dir:
			p, err := initramfs.Clean(e.Path)
			if err != nil {
				return nil, fmt.Errorf("builder-hex0: %w", err)
			}
			mkdir("/" + p + "/")
		case initramfs.File:
			p, err := initramfs.Clean(e.Path)
			if err != nil {
				return nil, fmt.Errorf("builder-hex0: %w", err)
			}
			data := e.Data
			if e.HostPath != "" {
				if data, err = os.ReadFile(e.HostPath); err != nil {
					return nil, fmt.Errorf("builder-hex0: %s: %w", p, err)
				}
			}
			if name, ok := seedName[p]; ok {
				s, err := hex0.Build("x86", name)
				text, serr := hex0.Source("x86", name)
				if err == nil && serr == nil && bytes.Equal(s.Bytes, data) {
					// Our own seed: its source goes in, the kernel assembles it.
					hs := seedDir + "/" + name + ".hex0"
					if err := src(hs, text); err != nil {
						return nil, err
					}
					mkdir("/" + p)
					fmt.Fprintf(&b, "hex0 %s /%s\n", hs, p)
					assembled = append(assembled, p)
					continue
				}
			}
			if err := src("/"+p, data); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("builder-hex0: %s: only files and directories can enter the guest", e.EntryPath())
		}
	}
	if err := src(catmHex0, qemu.CatmSourceFor("x86")); err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "hex0 %s %s\n", catmHex0, catmPath)
	for _, m := range markers(g) {
		if err := src(m.path, m.data); err != nil {
			return nil, err
		}
	}
	mkdir(resultDir + "/")
	if err := src(scriptPath, run); err != nil {
		return nil, err
	}
	if err := src(finishPath, FinishScript(g)); err != nil {
		return nil, err
	}
	join := JoinScript(g)
	if join != nil {
		if err := src(joinPath, join); err != nil {
			return nil, err
		}
	}
	// The shell passes one argument; a program's name must not start with
	// s, h or f (its own commands): the kaem seed's path starts with '/'.
	// The shell goes on whatever each script did.
	fmt.Fprintf(&b, "/%s %s\n", kaem, scriptPath)
	fmt.Fprintf(&b, "/%s %s\n", kaem, finishPath)
	if join != nil {
		fmt.Fprintf(&b, "/%s %s\n", kaem, joinPath)
	}
	return b.Bytes(), nil
}

// shellToken checks a path the kernel's shell reads: it ends at a line
// feed, and `src` takes it whole.
func shellToken(p string) error {
	if strings.ContainsAny(p, "\n\x00") || len(p) >= 1024 {
		return fmt.Errorf("builder-hex0: path %q: the kernel's shell takes names under 1024 bytes without line feeds", p)
	}
	return nil
}

type marker struct {
	path string
	data []byte
}

func markerFile(kind qemu.FrameKind, n, k int) string {
	switch {
	case k > 0:
		return fmt.Sprintf("%s/%s-%d-%d", frameDir, kind, n, k)
	case n > 0:
		return fmt.Sprintf("%s/%s-%d", frameDir, kind, n)
	}
	return frameDir + "/" + string(kind)
}

func closeFile(n, k int) string { return fmt.Sprintf("%s/close-%d-%d", frameDir, n, k) }

// markers lists the marker files of g's result area.
func markers(g qemu.Guest) []marker {
	nonce := g.Nonce()
	m := []marker{
		{markerFile(qemu.FrameHello, 0, 0), qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameHello})},
		{markerFile(qemu.FrameDone, 0, 0), qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameDone})},
	}
	for i, s := range g.Steps {
		n := i + 1
		m = append(m,
			marker{markerFile(qemu.FrameBegin, n, 0), qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameBegin, Step: n})},
			marker{markerFile(qemu.FrameEnd, n, 0), qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameEnd, Step: n})})
		for j, o := range s.Outputs {
			p, _ := initramfs.Clean(o)
			m = append(m,
				marker{markerFile(qemu.FrameOut, n, j+1), qemu.Marker(nonce, qemu.Frame{Kind: qemu.FrameOut, Step: n, Output: j + 1, Path: "/" + p})},
				marker{closeFile(n, j+1), qemu.CloseMarker(nonce, n, j+1)})
		}
	}
	return m
}

// RunScript returns the kaem script the seed runs in the guest: each step
// between its begin and end markers, and after each step that ended well
// its piece of the result area, /bootchain/r/N, which holds only its end
// marker: the outputs themselves are copied once, by FinishScript, since
// builder-hex0 counts every byte written in a variable on a page of its
// own code, which QEMU's TCG pays for on every byte.
func RunScript(g qemu.Guest) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# bootchain builder-hex0 guest script, generated by the host (package builderhex0).\n")
	b.WriteString("# Each step runs between markers; after it, /bootchain/r/N says it ended well.\n")
	for i, s := range g.Steps {
		n := i + 1
		for _, a := range s.Argv {
			if a == "" || strings.ContainsAny(a, " \t\n\r\"#\\\x00") {
				return nil, fmt.Errorf("builder-hex0: step %s: argument %q cannot pass through the kaem seed", s.Name, a)
			}
			if len(a) > 255 {
				return nil, fmt.Errorf("builder-hex0: step %s: argument %q is over the kernel's 255 bytes", s.Name, a)
			}
		}
		for _, o := range s.Outputs {
			if _, err := initramfs.Clean(o); err != nil {
				return nil, fmt.Errorf("builder-hex0: step %s: %w", s.Name, err)
			}
		}
		fmt.Fprintf(&b, "# step %d: %s\n", n, s.Name)
		fmt.Fprintf(&b, "%s %s %s\n", catmPath, echoTTY, markerFile(qemu.FrameBegin, n, 0))
		b.WriteString(strings.Join(s.Argv, " ") + "\n")
		fmt.Fprintf(&b, "%s %s %s\n", catmPath, echoTTY, markerFile(qemu.FrameEnd, n, 0))
		fmt.Fprintf(&b, "%s %s/%d %s\n", catmPath, resultDir, n, markerFile(qemu.FrameEnd, n, 0))
	}
	return []byte(b.String()), nil
}

// finishWords and finishBytes bound one catm in FinishScript: the kaem
// seed takes 4095 words of at most 65536 bytes in all, each with its NUL.
const (
	finishWords = 2000
	finishBytes = 60000
)

// finishChunks splits words into the catm commands' word lists, each
// within finishWords and finishBytes.
func finishChunks(words []string) [][]string {
	var chunks [][]string
	var cur []string
	n := 0
	for _, w := range words {
		if len(cur) > 0 && (len(cur) >= finishWords || n+len(w)+1 > finishBytes) {
			chunks = append(chunks, cur)
			cur, n = nil, 0
		}
		cur = append(cur, w)
		n += len(w) + 1
	}
	return append(chunks, cur)
}

// FinishScript returns the kaem script the kernel's shell runs after
// RunScript, whatever became of it: catm writes the result area to
// /dev/hda, the file the kernel writes over the disk: the hello marker,
// then for each step its begin marker, its piece (the end marker) and
// each output between its out and close markers, then the done marker.
// The piece of a step that failed does not exist, so catm stops there and
// the area ends with that step's begin marker; an output the guest lacks
// ends it after that output's out marker. A chain with more outputs than
// one command line takes (finishWords words, finishBytes bytes: the kaem
// seed's limits) is written in parts, which JoinScript joins.
func FinishScript(g qemu.Guest) []byte {
	var b strings.Builder
	b.WriteString("# bootchain builder-hex0: join the result area into /dev/hda (package builderhex0).\n")
	chunks := finishChunks(resultWords(g))
	if len(chunks) == 1 {
		fmt.Fprintf(&b, "%s %s %s\n", catmPath, hdaPath, strings.Join(chunks[0], " "))
		return []byte(b.String())
	}
	for i, c := range chunks {
		fmt.Fprintf(&b, "%s %s %s\n", catmPath, partFile(i+1), strings.Join(c, " "))
	}
	return []byte(b.String())
}

// JoinScript returns the kaem script that joins FinishScript's parts into
// /dev/hda, or nil when the area is written in one. The kernel's shell
// runs it on its own, after FinishScript, since the kaem seed stops at the
// first command that fails: a part that stopped at a missing file (or a
// failed step) still leaves the parts before it, and catm here stops at
// the first part that was never written, so the area ends where the
// guest's copying stopped, as it does when it is written in one.
func JoinScript(g qemu.Guest) []byte {
	chunks := finishChunks(resultWords(g))
	if len(chunks) == 1 {
		return nil
	}
	parts := make([]string, len(chunks))
	for i := range chunks {
		parts[i] = partFile(i + 1)
	}
	return fmt.Appendf(nil, "# bootchain builder-hex0: join the parts of the result area (package builderhex0).\n%s %s %s\n",
		catmPath, hdaPath, strings.Join(parts, " "))
}

func partFile(i int) string { return fmt.Sprintf("%s/part-%d", resultDir, i) }

// resultWords returns the files the result area joins, in order.
func resultWords(g qemu.Guest) []string {
	words := []string{markerFile(qemu.FrameHello, 0, 0)}
	for i, s := range g.Steps {
		n := i + 1
		words = append(words, markerFile(qemu.FrameBegin, n, 0), fmt.Sprintf("%s/%d", resultDir, n))
		for k, o := range s.Outputs {
			p, _ := initramfs.Clean(o)
			words = append(words, markerFile(qemu.FrameOut, n, k+1), "/"+p, closeFile(n, k+1))
		}
	}
	return append(words, markerFile(qemu.FrameDone, 0, 0))
}
