package chain

import (
	"strings"
	"testing"

	"github.com/bootchain/bootchain/hex0"
)

// TestAMD64Answers: the amd64 chain pins upstream's 19 checked programs with
// upstream's values (stage0-posix 1.9.1, amd64.answers), and the two
// programs its seed step assembles with upstream's own AMD64 binary seeds
// (bootstrap-seeds/POSIX/AMD64), which they must equal byte for byte.
func TestAMD64Answers(t *testing.T) {
	c, err := Load("amd64")
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]string{
		"AMD64/bin/blood-elf":     "6d1c534225ac7a3e74e29cb17579f5dd720547c19e7eea6bfe742326fb4a0bc7",
		"AMD64/bin/catm":          "c13daf05065008a1e7bc4852fcce016df24edb1c633961f462421b8b0ab176ca",
		"AMD64/bin/chmod":         "55e78986bd1a5641f6a665ecb8be51aff06ce805b700b246821a001e9afc60e8",
		"AMD64/bin/cp":            "aa8eb71e83570f84b3fe13c08f28e3861e59681b178e38b6fd8f0a4cafaebc27",
		"AMD64/bin/get_machine":   "379cb35a87bd7a9c190d79d3141af897869aae5e4cb0ac9e03235c78b84e1be7",
		"AMD64/bin/hex2":          "f782df6d59f7ff930e67f34dde7ea62288b12d6d1a0b036ef465ad06b4a4b97a",
		"AMD64/bin/kaem":          "6364de59b36f8575fd938779476a9a121878fc0e2d65cc01ae5372aad2d028b5",
		"AMD64/bin/M1":            "fc68c115384852b827a35b607de382592a475c324e1e11ca7cf5b9e840ce15a9",
		"AMD64/bin/M2-Mesoplanet": "f24855886c8a7e63015b8c8b6aeb4a03556540be16baab62d234deb4c57625b4",
		"AMD64/bin/M2-Planet":     "7cf19de29a4ae63637898f6093d0526b73108040ab3634f11232030439602fc1",
		"AMD64/bin/match":         "962d44ad6cc75ee1f51fbb0d07c5e4fdf9479540d46ceae26d1bb34558feaa2f",
		"AMD64/bin/mkdir":         "c8bdd424b1e588714c654de9e1df3de690301cf2ff883e93da1f01b86806cc20",
		"AMD64/bin/replace":       "88bfafe232428196a056b1ef517d4f797c68f0eaabc3dce84f66194899dbf864",
		"AMD64/bin/rm":            "c7ac6f9ca26a0b771c130b43c8b536b300445f696e04b5db4f0f4eb949613459",
		"AMD64/bin/sha256sum":     "f7c0fcae688ec01050d836771392f4d81f5ad6788590278ec76ccd17cdd89e48",
		"AMD64/bin/ungz":          "0769b2c0af733b62db727a73c04cbdadafa747ed15c0ade42c6c613c18e165ec",
		"AMD64/bin/unbz2":         "2e2ff2ae38b2d4e9ca2268b3265b0d82b79a931ce25aa91daf36c006537f2d45",
		"AMD64/bin/unxz":          "1960964e6d73cdc3b55f2bb3b2f2c33668025a802d86cef48f39bdaa9a5ea201",
		"AMD64/bin/untar":         "8100ef93f3f078fb825d97eb53773f9f3d6e420d5bd40f8b0e3285e405544e9c",
		// upstream's bootstrap-seeds/POSIX/AMD64/hex0-seed and kaem-optional-seed
		"AMD64/artifact/hex0":   "66c95985e668f20f2465c2b876f83fef066fd7c8c2dd3adb51a969f2d7120c8b",
		"AMD64/artifact/kaem-0": "153b8915b73bd07132b59538d10fe53d26578eb160a67db72af07aaa61c51b3b",
	}
	final := c.FinalPins("")
	for p, want := range answers {
		if final[p] != want {
			t.Errorf("chain amd64 pins %s to %q, upstream to %s", p, final[p], want)
		}
	}
	src, _ := c.Source("stage0-posix")
	if src.Files["amd64.answers"] == "" || src.Files["AMD64/kaem.run"] == "" {
		t.Errorf("the amd64 chain must take upstream's scripts from the pinned source")
	}
}

// TestAMD64ChainShape: the amd64 chain is the x86 chain's stage0 part for
// the other architecture: the same release archive, the same three steps
// running upstream's AMD64 scripts, the AMD64 seeds, and nothing from the
// x86 directories of the release.
func TestAMD64ChainShape(t *testing.T) {
	a, err := Load("amd64")
	if err != nil {
		t.Fatal(err)
	}
	x, err := Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	if a.Arch != "amd64" {
		t.Errorf("arch %s, want amd64", a.Arch)
	}
	as, _ := a.Source("stage0-posix")
	xs, _ := x.Source("stage0-posix")
	if as.ArchiveSHA256 != xs.ArchiveSHA256 || as.Version != xs.Version {
		t.Errorf("stage0-posix %s %s, want the x86 chain's release %s %s", as.Version, as.ArchiveSHA256, xs.Version, xs.ArchiveSHA256)
	}
	var names []string
	for _, s := range a.Steps {
		names = append(names, s.Name)
		if s.Unverified || !s.Pinned() {
			t.Errorf("step %s: want verified and pinned", s.Name)
		}
		if !strings.HasPrefix(s.Argv[0], "./AMD64/") && !strings.HasPrefix(s.Argv[0], "./bootstrap-seeds/POSIX/AMD64/") {
			t.Errorf("step %s runs %s, want an AMD64 program", s.Name, s.Argv[0])
		}
		for p := range s.Outputs {
			if !strings.HasPrefix(p, "AMD64/") {
				t.Errorf("step %s: output %s outside AMD64/", s.Name, p)
			}
		}
	}
	if got := strings.Join(names, " "); got != "seed mini full" {
		t.Errorf("steps %s, want seed mini full", got)
	}
	for p := range as.Files {
		if strings.HasPrefix(p, "x86/") || strings.Contains(p, "/x86/") && !strings.HasSuffix(p, ".c") {
			t.Errorf("source file %s: the amd64 chain reads no x86 file but M2libc's x86 C files (M2-Mesoplanet opens every architecture's)", p)
		}
	}
	for _, s := range a.Seeds {
		if !strings.HasPrefix(s.Path, "bootstrap-seeds/POSIX/AMD64/") {
			t.Errorf("seed %s at %s, want it where upstream's AMD64 seed is", s.Name, s.Path)
		}
	}
}

// TestFixtureAMD64PinsFollowSeeds: the amd64 fixture's first two steps
// rebuild the AMD64 seeds, so their pins are hex0/amd64/SHA256SUMS's.
func TestFixtureAMD64PinsFollowSeeds(t *testing.T) {
	pins, err := hex0.Pins("amd64")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load("../testdata/chains/fixture-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch != "amd64" {
		t.Errorf("fixture-amd64: arch %s, want amd64", c.Arch)
	}
	for step, seed := range map[string]string{"hex0": hex0.HexSeed, "kaem": hex0.KaemSeed} {
		out := "bin/" + step
		if got := c.Steps[c.StepIndex(step)].Outputs[out]; got != pins[seed] {
			t.Errorf("testdata/chains/fixture-amd64/%s.sha256 pins %s to %s, but hex0/amd64/SHA256SUMS pins %s to %s: update the fixture", step, out, got, seed, pins[seed])
		}
	}
}
