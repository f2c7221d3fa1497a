package chain

import (
	"testing"
)

// liveBootstrapTools is every output hash live-bootstrap publishes, at
// commit aae7c4a6, for the steps that follow TinyCC in its
// sysa/run-after-fiwix.kaem (sysa/<pkg>/<pkg>.checksums), with the x86
// chain's step that builds the file. Our steps install where
// live-bootstrap does, so our path is live-bootstrap's less the leading /.
// differs is empty when our pin must equal live-bootstrap's; otherwise it
// says why not (a substituted source, another path, ...), and BOOTSTRAP.md
// must say so too.
var liveBootstrapTools = []liveBootstrapPin{
	// make-3.82.checksums
	{"/usr/bin/make", "aa57178c15d44020d30cc893a5cf75278a38a801361f0373cf17600cf534c73c", "make", ""},
	// patch-2.5.9.checksums
	{"/usr/bin/patch", "0ad4338d5aaf61d126984508172e731da3162fea3d46b9fb34b2dc71beb96a1c", "patch", ""},
	// gzip-1.2.4.checksums
	{"/usr/bin/gzip", "6608aee8c4a8fdb0945e8b7b0a6f9fe3ca5336394bbcbc564879971e0129a6f1", "gzip",
		"substituted source: the release's getopt.c and getopt.h are in no reachable history, so make 3.82's are linked in"},
	// tar-1.12.checksums
	{"/usr/bin/tar", "2186b01ab8d953222f15cab0d257f80215f4a17c53b30a5a7467b80e49c2cc34", "tar",
		"substituted source: tar's history has 1.12's src/ but not its lib/, which comes from coreutils' history of the day before"},
	// sed-4.0.9.checksums
	{"/usr/bin/sed", "bf0d4ef807c706a2b201c7d132c70314ad96aa24353d444bcaed4eca6c95a528", "sed",
		"substituted source: sed 4.0.9 cannot be had; the step builds 4.1.5, the nearest release that can, with bootchain's makefile"},
	// bzip2-1.0.8.checksums
	{"/usr/bin/bzip2", "532b2455e0b0c6fd3ef067776a61ebd0620437d1f55145ce56ce1ddad23844c5", "bzip2", ""},
	// coreutils-5.0.checksums
	{"/usr/bin/install", "dafe043ca795c8bea27a6bc5cbdfbc4f59671809f6f9774b9e94831ea6405a80", "coreutils", ""},
	{"/usr/bin/basename", "78cf8e0ee96e7428496d0fdccc60e8465f7aaf3728a463123fefb8f46bc5d073", "coreutils", ""},
	{"/usr/bin/cat", "70146b4ce3092cd7ccaf933d2eb6e93c1b12358240838f66a1a7743a8100e870", "coreutils", ""},
	{"/usr/bin/chmod", "c0b5b1eb102784c8202ec82990fffc4c57ba0da5724ac44544994a1d5a50615f", "coreutils", ""},
	{"/usr/bin/cksum", "113910e58f8bb9506f5fd3c5394e7792b47bf9c7e7479941882c1368481b2e40", "coreutils", ""},
	{"/usr/bin/cp", "2f666cac19e38d7653975e68485ade9f6a4bb9414fa9364716414b294f3720d1", "coreutils", ""},
	{"/usr/bin/csplit", "27f6fe3aa713d62cd9367ccafb2c52029f1f87e2d07cbadf7b71023240149fda", "coreutils", ""},
	{"/usr/bin/cut", "11068650333e2c0af8e9c8abb79c3d5c8fbe261b5a72b454ca632ad3ec5b965b", "coreutils", ""},
	{"/usr/bin/dirname", "7f5afda1460b2148f8b362bc37e252caf6bf02df10aab02a21f5581295921b97", "coreutils", ""},
	{"/usr/bin/echo", "ecbbb0202e9b8274c93e41d831eddc809f7714c6e8004136e2fc7f1a0a30e799", "coreutils", ""},
	{"/usr/bin/expand", "a2962caac7a407f50a94c1d6496de9ca65c8ff66a3aa3e814a69f6aa3253dea2", "coreutils", ""},
	{"/usr/bin/expr", "61ffbe47da01a828ce0a0e2b871deb065bcaf874b831c019131d62bb5156e194", "coreutils", ""},
	{"/usr/bin/factor", "28c8920fb8ce6e5ed74f8be8a854688b8aa5155baf70812259c471fd84d2d716", "coreutils", ""},
	{"/usr/bin/false", "1a851ce640196e1562d392f2a71cf294937513a43fd9b52e146c803722bd6c9e", "coreutils", ""},
	{"/usr/bin/fmt", "fda23f5d23a65799794b49b3befa8d515e1e0f221c4b67e9dead07ca4b492c4c", "coreutils", ""},
	{"/usr/bin/fold", "2241e52196cc6f204528c32d844361cb917031cdfe5efda90ee6f2f3b2fb6a1a", "coreutils", ""},
	{"/usr/bin/head", "813bc16b973c2d13b96980d22d8ad49974aac356226781868af68973ba8229a2", "coreutils", ""},
	{"/usr/bin/hostname", "7948309bd45223be43e385367a56cf5fcd30ac7c94685423e651fab2d1c0a80d", "coreutils", ""},
	{"/usr/bin/id", "fd55b2ed55a27de3c57dccf64c1457613a109c231dc0f8a40b650fb2f6114ab2", "coreutils", ""},
	{"/usr/bin/join", "9cb2877544e4dfc2521d54c3b18811dad170a6b31aeaa7556b73edcf57cb6668", "coreutils", ""},
	{"/usr/bin/kill", "a532dfb88e4226ba1600ab8eb3c7a2801b6b7bc2d50200ba70470723322babfe", "coreutils", ""},
	{"/usr/bin/link", "495a20a8342ab6d61806342ef61d8ad135a7c8f2bfa8a2edbd6cb5e839d577a7", "coreutils", ""},
	{"/usr/bin/ln", "38b90400c1be7792872bbb0781627b2dba35a70abf41899e9ee19d59ef351fe9", "coreutils", ""},
	{"/usr/bin/logname", "323097645c46aab33711f562ff7ed1fda4609970d7e55e6ab2fd31dd1ed0bfb0", "coreutils", ""},
	{"/usr/bin/mkfifo", "354547f7467df48dd0bbaf9c7f36c8168dc8a38ccfe97409847dbb50c05cba90", "coreutils", ""},
	{"/usr/bin/mkdir", "2326009b57ace4bc7da598d322fcf7c2cdcd702723c6cdb81a50a1ceb0631933", "coreutils", ""},
	{"/usr/bin/mknod", "f964752c462185f7ea54246b4e53bca7ee84cfc4b590bef04baa8700312e2224", "coreutils", ""},
	{"/usr/bin/nl", "a9311865c1e95766e3be810617fce3892d5ea693fd3cdb26d680f75c579670f2", "coreutils", ""},
	{"/usr/bin/od", "c68b80b2dff6423f5c92ec1cf02f30c61c9560f2a3499acf617aeee7c407d7b5", "coreutils", ""},
	{"/usr/bin/paste", "775ec8b0a5c37a7360535c1c040b5c98e6177e69f978f520ee928efab39ed519", "coreutils", ""},
	{"/usr/bin/pathchk", "b45c0d13af7f9b1cad618fdcd48ec7db80d9e59acf37ced076c4a65412b3a5a7", "coreutils", ""},
	{"/usr/bin/pr", "267b1a8a23bf764f833cef10da9f0c77583234baed24bd67362a008015231ee3", "coreutils", ""},
	{"/usr/bin/printf", "6375dd4cb3d1326c895844fa7128d3d7c88df9da7b85830e23bc61d99e0bc186", "coreutils", ""},
	{"/usr/bin/ptx", "9665a522e43fb6d2a7d66c217873cc9eb02936a51ff97b426214316b76a92792", "coreutils", ""},
	{"/usr/bin/pwd", "7af4c3a707f382730836223ce8651850e78e9aac4079cf2e0e7996cac8449011", "coreutils", ""},
	{"/usr/bin/readlink", "6c2fc79aef8bcb5ce79961481b6d30fb5bf3648d71e60ab1df9a75621f0471d0", "coreutils", ""},
	{"/usr/bin/rmdir", "3249f3b8a09e6862ce1a0c09b4e805fa03f6cfef70ee81c70704f0b481b20f45", "coreutils", ""},
	{"/usr/bin/seq", "014f6c56864a02903fcddc8f681459ab455524f12ace562fb4ff50b67cd07dab", "coreutils", ""},
	{"/usr/bin/sleep", "de46fe9655bad40463d8af57ec6fe0dd4d56fb4056a7fcef9e57eebf9c497959", "coreutils", ""},
	{"/usr/bin/sort", "a6bbb377c517f2c00652b16f8eb14e8ba54fa318faf6c90fa82ebcc84fb14986", "coreutils", ""},
	{"/usr/bin/split", "7d62c06a21c4eb9989f01bacf406bffe1b7e9d69596eac4fa6373e9ce7f7cb3b", "coreutils", ""},
	{"/usr/bin/sum", "00a0f9b9dc137193e6ddb0b7dba679ee98865dfc69589bcb619de0044fdb5550", "coreutils", ""},
	{"/usr/bin/tail", "38b82cf9f2a4818061cabc32e78df8cc552c1384cecf669b8a221f44fb1cf06b", "coreutils", ""},
	{"/usr/bin/tee", "e2683f200a8c14eef6d92d6ee3b4fdbc48b4f1cf5ea58ccab57259f6b8a315d5", "coreutils", ""},
	{"/usr/bin/tr", "ff9492d8e088acf1a689e907c9550ba78029a778bd2818674d4989cddbc28853", "coreutils", ""},
	{"/usr/bin/tsort", "159651d7a72db3e4752ee184288c55a1fee0484443aa67e4f3a9984ad7320e78", "coreutils", ""},
	{"/usr/bin/unexpand", "9f6f55239fa384564f78347b70c1287310283121446d63071045f6fd3eac90b1", "coreutils", ""},
	{"/usr/bin/uniq", "58b692ef7cc3f644eca0b21cd792ac6037202788e9bcee1204ba155a750e27ca", "coreutils", ""},
	{"/usr/bin/unlink", "1c6c0306829c5c0695d9e5336682aac3494eb78b86b0806fb8b94b4edbe9e670", "coreutils", ""},
	{"/usr/bin/wc", "c601ba79b716d782bd8f01e2e3804bd2a66fdc6519c7c27dc709def51558ed53", "coreutils", ""},
	{"/usr/bin/whoami", "762c3ac63eeafd49de5f324b16b1895167110e2ddee553c6f5198c7d71880caf", "coreutils", ""},
	{"/usr/bin/tac", "e0a3acd8a5ea91c112bc63281f54a1e56d11991f0ec3b72d5a5becaf11bf6c9a", "coreutils", ""},
	{"/usr/bin/test", "a728386f022a00b79a683ab39f9f85a2561e110ff6e6786d304320d8ed9e4e97", "coreutils", ""},
	{"/usr/bin/touch", "3948a25742e25552b30b018269038723d7f6eb80a4c18c2f85bb84fe13729930", "coreutils", ""},
	{"/usr/bin/true", "f4f039c380c8f979bd40b02fc458840db3f1086d7e7f9a209e860340a548a42b", "coreutils", ""},
	{"/usr/bin/yes", "43e5a7794084a505fdfd367d6d66e5f0b8ba3c3d843cdc6036416d49c68b79b5", "coreutils", ""},
	{"/usr/bin/ls", "3e187de38d3c75ef52d74c4bba8dae228dad81e81e9209e3994a6bffe8ee09c9", "coreutils", ""},
	{"/usr/bin/md5sum", "4917fb8bb8a4fb9e24b6cc27de9dd1944acef84b8f5f9b150c0aa9f87b37f6ca", "coreutils", ""},
	{"/usr/bin/mv", "8c8ed60125c5b34b4d3d156baf2b4c682dee313bc795bb1b4b15427827d62ca8", "coreutils", ""},
	{"/usr/bin/rm", "48c1f9f1847bff208be5bf04ea5897a0c1454f5b8e748a451e755631519c85f1", "coreutils", ""},
	{"/usr/bin/sha1sum", "5d717b9176ebb05216c869e7ee9711e0fdc6ac2f8dec15d9e94a2ed35832c9c9", "coreutils", ""},
	// heirloom-devtools-070527.checksums
	{"/usr/bin/yacc", "9f5186c86f8a2c7a0eb39d11f7017fc70d5a3940d56c648f93f6a3189ac1d67f", "heirloom-devtools", ""},
	{"/usr/bin/lex", "0fa43f12e3e32987211a433a9692f939b2c5d0dc32cd5523f9ad50bb441ac580", "heirloom-devtools", ""},
	{"/usr/lib/mes/libl.a", "ffe696afc1bda32a5f4035e29b3275cab73a27df7635ccbe02ed49a30374ccdd", "heirloom-devtools", ""},
	{"/yaccpar", "bf3fb293f1ff89ee3dbcb08166c64b7a6793b49a12673d7633e3353ebea80d4d", "heirloom-devtools", ""},
	{"/lex/ncform", "ee0f187b844f50d64c912bfcb5d73706662846d6d8a90b8b1fb20dda60464734", "heirloom-devtools", ""},
	// bash-2.05b.checksums
	{"/usr/bin/bash", "a11ab8528cd79c67a0514ce2581ee81f50398cea1b4c616a22c488c0cc2d619e", "bash", ""},
}

// liveBootstrapToolsCounts is how many files each of live-bootstrap's
// checksums lists names, for the steps whose lists the table holds in full.
var liveBootstrapToolsCounts = map[string]int{"bzip2": 1, "coreutils": 61, "heirloom-devtools": 5, "bash": 1}

// TestLiveBootstrapTools holds the x86 chain's pins for the tools built
// after TinyCC against live-bootstrap's published hashes: each equal, or
// differing for the reason the table and BOOTSTRAP.md give. With
// BOOTCHAIN_TOOLS_WORK set to the --work tree of a real run that went at
// least as far as these steps, the files there are hashed too.
func TestLiveBootstrapTools(t *testing.T) {
	c, doc := loadX86Doc(t)
	// make, patch, gzip, tar and sed publish one file each.
	if len(liveBootstrapTools) < 5 {
		t.Fatalf("the table lists %d of live-bootstrap's hashes, want at least the 5 of make, patch, gzip, tar and sed", len(liveBootstrapTools))
	}
	counts := map[string]int{}
	for _, lb := range liveBootstrapTools {
		counts[lb.step]++
	}
	for step, want := range liveBootstrapToolsCounts {
		if counts[step] != want {
			t.Errorf("the table lists %d of live-bootstrap's hashes for step %s, want all %d", counts[step], step, want)
		}
	}
	final := c.FinalPins("")
	work := runTree(t, "BOOTCHAIN_TOOLS_WORK")
	seen := map[string]bool{}
	for _, lb := range liveBootstrapTools {
		if seen[lb.lbFile] {
			t.Errorf("%s: listed twice", lb.lbFile)
		}
		seen[lb.lbFile] = true
		_, ours, pin, ok := ourPin(t, c, doc, lb)
		if !ok {
			continue
		}
		if work == "" {
			continue
		}
		if final[ours] != pin {
			t.Logf("%s: a later step rewrote it; not hashed in the run's tree", lb.lbFile)
			continue
		}
		checkInTree(t, work, lb, ours, pin)
	}
}
