package engine

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// A run --from under qemu boots a guest whose root holds outputs the host
// took from its cache. Before the first step the guest checks every file of
// that root itself, with sha256check (qemu/guest/x86/sha256check.hex0),
// which the hex0 seed assembles in the guest from its commented source:
//
//	hex0-seed bootchain/sha256check.hex0 bootchain/sha256check
//	bootchain/sha256check bootchain/inputs.sha256 bootchain/inputs.actual
//
// inputs.sha256 lists every file ("<sha256>  /<path>"), sorted by path;
// sha256check writes the hashes it computed to inputs.actual in the same
// form and exits non-zero at a mismatch, which stops the guest before any
// step (its "FAILED" line on the console names the file). inputs.actual
// travels to the host, which holds it against the list: when they are
// equal the guest has confirmed, file by file, the tree the report's
// start_tree digest names.
const (
	checkHex0Path   = qemu.GuestDir + "/sha256check.hex0"
	checkPath       = qemu.GuestDir + "/sha256check"
	checkListPath   = qemu.GuestDir + "/inputs.sha256"
	checkActualPath = qemu.GuestDir + "/inputs.actual"
	checkAssemble   = "bootchain:assemble-sha256check"
	checkInputs     = "bootchain:check-inputs"
)

// guestCheckList returns the list the guest checks its root against:
// every file of files (path -> sha256), sorted by path, in sha256check's
// form.
func guestCheckList(files map[string]string) ([]byte, error) {
	var b bytes.Buffer
	for _, p := range chain.SortedPaths(files) {
		if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("file %q: a path with blanks or control characters cannot be checked in the guest (sha256check's list format); run this chain --from under the sandbox backend", p)
		}
		fmt.Fprintf(&b, "%s  /%s\n", files[p], p)
	}
	return b.Bytes(), nil
}

// addGuestCheck makes the guest check files (its root as the host placed
// it) before its first step: the two steps above go first.
func (p *guestPlan) addGuestCheck(hex0Seed string, files map[string]string) error {
	list, err := guestCheckList(files)
	if err != nil {
		return err
	}
	p.checkList = list
	p.guest.Files = append(p.guest.Files,
		initramfs.File{Path: checkHex0Path, Mode: 0o644, Data: qemu.SHA256CheckSource},
		initramfs.File{Path: checkListPath, Mode: 0o644, Data: list},
	)
	steps := []qemu.GuestStep{
		{Name: checkAssemble, Argv: []string{"/" + hex0Seed, "/" + checkHex0Path, "/" + checkPath}},
		{Name: checkInputs, Argv: []string{"/" + checkPath, "/" + checkListPath, "/" + checkActualPath}, Outputs: []string{checkActualPath}},
	}
	p.guest.Steps = append(steps, p.guest.Steps...)
	p.checkStep = 1
	p.steps = append([]int{-1, -1}, p.steps...)
	return nil
}

// checkGuestList holds the hashes the guest computed (inputs.actual)
// against the list it was given; the first difference names its file.
func checkGuestList(want, got []byte) error {
	if bytes.Equal(want, got) {
		return nil
	}
	wl := strings.SplitAfter(string(want), "\n")
	gl := strings.SplitAfter(string(got), "\n")
	for i, w := range wl {
		g := ""
		if i < len(gl) {
			g = gl[i]
		}
		if w == g {
			continue
		}
		wsum, wpath, _ := strings.Cut(strings.TrimSuffix(w, "\n"), "  ")
		gsum, gpath, _ := strings.Cut(strings.TrimSuffix(g, "\n"), "  ")
		me := &verify.MismatchError{Path: strings.TrimPrefix(wpath, "/"), Expected: wsum, Actual: gsum,
			Meaning: "the guest's own check (sha256check, assembled in the guest) found the file changed in the guest's root"}
		if gpath != wpath {
			me.Actual, me.Problem = "", fmt.Sprintf("the guest's check listed %q here instead", gpath)
		}
		return me
	}
	return fmt.Errorf("the guest's check listed %d more line(s) than it was given", len(gl)-len(wl))
}

// guestCheckFailure turns sha256check's console line
//
//	FAILED /PATH sha256 ACTUAL expected EXPECTED
//
// into the mismatch it reports, or nil for any other line.
func guestCheckFailure(line string) *verify.MismatchError {
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "FAILED" || f[2] != "sha256" || f[4] != "expected" {
		return nil
	}
	return &verify.MismatchError{Path: strings.TrimPrefix(f[1], "/"), Expected: f[5], Actual: f[3],
		Meaning: "the guest's own check (sha256check, assembled in the guest) found the file changed in the guest's root; no step ran"}
}
