package qemu

import (
	"testing"

	"github.com/bootchain/bootchain/initramfs"
)

// TestScriptFor: each seed set's kaem seed reads its own script when the
// kernel runs it as init with no argument, and both guests put their
// script there: kaem.amd64 for the AMD64 seeds, kaem.x86 otherwise.
func TestScriptFor(t *testing.T) {
	for _, tc := range []struct{ arch, want string }{{"x86", "kaem.x86"}, {"amd64", "kaem.amd64"}, {"", DefaultScript}} {
		if got := ScriptFor(tc.arch); got != tc.want {
			t.Errorf("ScriptFor(%q) = %s, want %s", tc.arch, got, tc.want)
		}
	}
	has := func(es []initramfs.Entry, p string) bool {
		for _, e := range es {
			if e.EntryPath() == p {
				return true
			}
		}
		return false
	}
	for _, script := range []string{"", "kaem.amd64"} {
		want := script
		if want == "" {
			want = DefaultScript
		}
		other := map[string]string{"kaem.x86": "kaem.amd64", "kaem.amd64": "kaem.x86"}[want]

		g := Guest{Kaem: "seeds/kaem-optional-seed", Hex0: "seeds/hex0-seed", Script: script, Files: saSeeds(t),
			Steps: []GuestStep{{Name: "s", Argv: []string{"/seeds/hex0-seed", "/src/hex0.hex0", "/out"}}}}
		es, err := g.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if !has(es, want) || has(es, other) {
			t.Errorf("guest with Script %q: want %s in the root and no %s", script, want, other)
		}

		s, _ := saGuest(t)
		s.Script = script
		es, err = s.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if !has(es, want) || has(es, other) {
			t.Errorf("standalone guest with Script %q: want %s in the root and no %s", script, want, other)
		}
		// A chain file where the boot script goes is refused.
		s.Files = append(s.Files, initramfs.File{Path: want, Mode: 0o644, Data: []byte("x")})
		if _, err := s.Entries(); err == nil {
			t.Errorf("standalone guest: a file at %s was accepted", want)
		}
	}
}
