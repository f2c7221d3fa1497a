package chain

import (
	"testing"
)

// liveBootstrapMusl is every output hash live-bootstrap publishes, at
// commit aae7c4a6, for the builds its sysa/run.sh makes of tcc and musl
// after bash: not files, but the package each build makes of what it
// installs (sysa/SHA256SUMS.pkgs; helpers.sh's build function), named
// <pkg>_<n>.tar.bz2 for the n-th build of <pkg> by run.sh. The x86 chain's
// steps make each package the same way, at the same path
// (chain/x86/musl/musl-package.sh), so a package equal to live-bootstrap's
// shows every file the build installed (tcc, libtcc1.a, musl's 218
// headers and 14 libraries and start files) equal to live-bootstrap's.
// musl-1.1.24_2 and tcc-0.9.27_3, later rebuilds (with binutils, and
// tcc-musl-pass3), are not steps of the chain. differs is empty when our
// pin must equal live-bootstrap's; otherwise it says why not, and
// BOOTSTRAP.md must say so too.
var liveBootstrapMusl = []liveBootstrapPin{
	// tcc-mes-pass2.sh: /usr/bin/tcc, /usr/lib/mes/tcc/libtcc1.a
	{"/usr/src/repo/tcc-0.9.27_0.tar.bz2", "a07edeebe88d27afe01ae4b9c2fec7d26f54d87928976927f73d9dba5f50782b", "tcc-mes-pass2", ""},
	// musl-1.1.24.sh, built by that tcc
	{"/usr/src/repo/musl-1.1.24_0.tar.bz2", "a724c91a43e282c3d338a977e4eeac3b970df241db7872f9d5cf27984b609814", "musl", ""},
	// tcc-musl-pass1.sh: /usr/bin/tcc-musl, /usr/bin/tcc (a link), libtcc1.a
	{"/usr/src/repo/tcc-0.9.27_1.tar.bz2", "41a4b0fbf461dd26ecd31d77b300c979a4decae185c9e2d50c0470bc49d0b893", "tcc-musl-pass1", ""},
	// musl-1.1.24.sh again, built by tcc-musl
	{"/usr/src/repo/musl-1.1.24_1.tar.bz2", "2a03a3707593997a0e03ce3aa6b2ee647cf2e5bfe1deb028357a2dfab56e33e2", "musl-pass2", ""},
	// tcc-musl-pass2.sh: /usr/bin/tcc-musl, libtcc1.a
	{"/usr/src/repo/tcc-0.9.27_2.tar.bz2", "cbfc578c709f677ec3e9792a8620e4e2a88d13d93969fd54aac93e4a29c2604d", "tcc-musl-pass2", ""},
}

// TestLiveBootstrapMusl holds the x86 chain's pins of the packages of
// steps tcc-mes-pass2 to tcc-musl-pass2 against live-bootstrap's five
// published hashes: each equal, or differing for the reason the table and
// BOOTSTRAP.md give. With BOOTCHAIN_MUSL_WORK set to the --work tree of a
// real run to tcc-musl-pass2 (or later), the packages there are hashed
// too.
func TestLiveBootstrapMusl(t *testing.T) {
	c, doc := loadX86Doc(t)
	if len(liveBootstrapMusl) != 5 {
		t.Fatalf("the table lists %d of live-bootstrap's hashes, want the 5 packages of tcc-mes-pass2 to tcc-musl-pass2", len(liveBootstrapMusl))
	}
	work := runTree(t, "BOOTCHAIN_MUSL_WORK")
	for _, lb := range liveBootstrapMusl {
		_, ours, pin, ok := ourPin(t, c, doc, lb)
		if !ok || work == "" {
			continue
		}
		checkInTree(t, work, lb, ours, pin)
	}
}
