package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// ChainConfig says which chain an image runs, how far, and where its
// sources come from.
type ChainConfig struct {
	Chain *chain.Chain
	// Until names the last step to run; empty runs every step up to the
	// unverified section (every step, with Unverified).
	Until      string
	Unverified bool // run into the chain's unverified section
	// Sources maps a source name to an archive or tree given with --source
	// NAME=PATH; other sources come from the cache (see source.Open).
	Sources  map[string]string
	CacheDir string   // the source cache; empty means source.CacheDir()
	End      qemu.End // what the machine does after its summary; empty means halt
}

// ChainGuest returns the standalone guest that runs cc.Chain on a machine
// with no host: the seeds at their paths (and their hex0 sources where the
// chain places them), every pinned file of the sources the steps to run
// use, each checked again against its pin as it is read, and the steps with
// their pins. Steps past Until or in the unverified section are listed as
// not run; their pins enter the digest as the chain gives them, so the
// digest the guest shows is always the chain's digest (chain.Chain.Digest),
// the one `bootchain plan` prints.
//
// Each step runs in its working directory with exactly its environment,
// as in the sandbox. The guest differs from a sandbox run in ways the
// chain's steps do not see: one root for the whole run (a step also sees
// the sources of later steps and what earlier steps wrote without
// declaring it), and no check for undeclared files (strict).
func ChainGuest(ctx context.Context, cc ChainConfig) (*qemu.Standalone, error) {
	c := cc.Chain
	if c == nil {
		return nil, fmt.Errorf("image: no chain")
	}
	last, why, err := lastStep(cc)
	if err != nil {
		return nil, err
	}
	g := &qemu.Standalone{
		Title:  fmt.Sprintf("chain %s: %s", c.Name, c.Describe),
		End:    cc.End,
		Script: qemu.ScriptFor(c.Arch), // what the chain's kaem seed reads as init
	}

	built, err := hex0.BuildAll(c.Arch)
	if err != nil {
		return nil, fmt.Errorf("image: seeds %s: %w", c.Arch, err)
	}
	byName := map[string]hex0.Seed{}
	for _, s := range built {
		byName[s.Name] = s
	}
	for _, s := range c.Seeds {
		b, ok := byName[s.Name]
		if !ok {
			return nil, fmt.Errorf("image: chain %s: seed %s: expected one of the %s seeds, found none by that name", c.Name, s.Name, c.Arch)
		}
		g.Files = append(g.Files, initramfs.File{Path: s.Path, Mode: 0o755, Data: b.Bytes})
		switch s.Name {
		case hex0.HexSeed:
			g.Hex0 = s.Path
		case hex0.KaemSeed:
			g.Kaem = s.Path
		}
		if s.Source != "" {
			src, err := hex0.Source(c.Arch, s.Name)
			if err != nil {
				return nil, fmt.Errorf("image: chain %s: %w", c.Name, err)
			}
			g.Files = append(g.Files, initramfs.File{Path: s.Source, Mode: 0o644, Data: src})
		}
	}
	if g.Hex0 == "" || g.Kaem == "" {
		return nil, fmt.Errorf("image: chain %s: a standalone guest needs both the %s and the %s seed, the chain places %d seeds", c.Name, hex0.HexSeed, hex0.KaemSeed, len(c.Seeds))
	}

	cacheDir := cc.CacheDir
	if cacheDir == "" {
		if cacheDir, err = source.CacheDir(); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	opened := map[string]bool{}
	for i, st := range c.Steps {
		cs := qemu.CheckStep{Name: st.Name, Argv: st.Argv, Dir: st.Dir, Env: st.Env, Pins: st.Outputs, Unverified: st.Unverified}
		if i > last {
			cs.NotRun = why
			g.Steps = append(g.Steps, cs)
			continue
		}
		for _, u := range st.Uses {
			if opened[u] {
				continue
			}
			opened[u] = true
			files, err := sourceFiles(ctx, c, u, cc.Sources[u], cacheDir)
			if err != nil {
				return nil, fmt.Errorf("image: step %s: %w", st.Name, err)
			}
			g.Files = append(g.Files, files...)
		}
		g.Steps = append(g.Steps, cs)
	}
	if d := g.Digest(); d != c.Digest() {
		return nil, fmt.Errorf("image: chain %s: the guest would compute digest %s, the chain's is %s", c.Name, d, c.Digest())
	}
	return g, nil
}

// lastStep returns the index of the last step to run and why the steps
// after it do not.
func lastStep(cc ChainConfig) (int, string, error) {
	c := cc.Chain
	last := len(c.Steps) - 1
	why := ""
	if cc.Until == "" {
		cc.Until = c.DefaultUntil
	}
	if cc.Until != "" {
		i := c.StepIndex(cc.Until)
		if i < 0 {
			var names []string
			for _, s := range c.Steps {
				names = append(names, s.Name)
			}
			return 0, "", fmt.Errorf("image: --until %s: chain %s has no such step (it has %s)", cc.Until, c.Name, strings.Join(names, ", "))
		}
		if c.Steps[i].Unverified && !cc.Unverified {
			return 0, "", fmt.Errorf("image: --until %s: the step is in the unverified section; add --unverified to run it", cc.Until)
		}
		if p := c.Steps[i].Pending; p != "" {
			return 0, "", fmt.Errorf("image: --until %s: the step is pending (%s): the chain has no commands for it yet", cc.Until, p)
		}
		last, why = i, "after --until "+cc.Until
	}
	if !cc.Unverified {
		for i := 0; i <= last; i++ {
			if c.Steps[i].Unverified {
				return i - 1, "in the unverified section; --unverified runs it", nil
			}
		}
	}
	for i := 0; i <= last; i++ {
		if p := c.Steps[i].Pending; p != "" {
			return i - 1, "the road is laid up to here: step " + c.Steps[i].Name + " is pending (" + p + ")", nil
		}
	}
	return last, why, nil
}

// sourceFiles opens source name and returns its pinned files, read into
// memory and each checked against its pin once more.
func sourceFiles(ctx context.Context, c *chain.Chain, name, supplied, cacheDir string) ([]initramfs.Entry, error) {
	src, ok := c.Source(name)
	if !ok {
		return nil, fmt.Errorf("source %s: not in chain %s", name, c.Name)
	}
	t, err := source.Open(ctx, *src, supplied, cacheDir)
	if err != nil {
		return nil, err
	}
	var e []initramfs.Entry
	for _, p := range chain.SortedPaths(src.Files) {
		b, err := verify.ReadRegular(t.Path(p), 0)
		if err != nil {
			return nil, fmt.Errorf("source %s: %s: %w", name, p, err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != src.Files[p] {
			return nil, fmt.Errorf("source %s: %s: sha256 is %s, expected %s; the file changed after the source was checked", name, p, got, src.Files[p])
		}
		fi, err := os.Stat(t.Path(p))
		if err != nil {
			return nil, fmt.Errorf("source %s: %s: %w", name, p, err)
		}
		mode := os.FileMode(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		e = append(e, initramfs.File{Path: src.RootPath(p), Mode: mode, Data: b})
	}
	return e, nil
}

// ChainImage returns the image Config that runs cc's chain on a machine
// (see ChainGuest) with kernel and stub, and the guest it boots: the
// guest's root as an uncompressed initramfs (the kernel unpacks it
// fastest, and its bytes depend on no compressor's version), the guest's
// kernel command line, and an os-release naming the chain, its digest, the
// steps that run and what the machine does at the end (ChainField reads
// them back). Kernel and stub may be nil to learn only the initramfs and
// command line an image of the chain has.
func ChainImage(ctx context.Context, cc ChainConfig, kernel, stub []byte) (Config, *qemu.Standalone, error) {
	g, err := ChainGuest(ctx, cc)
	if err != nil {
		return Config{}, nil, err
	}
	entries, err := g.Entries()
	if err != nil {
		return Config{}, nil, fmt.Errorf("image: %w", err)
	}
	var cpio bytes.Buffer
	if err := initramfs.Write(&cpio, entries, initramfs.Options{}); err != nil {
		return Config{}, nil, fmt.Errorf("image: initramfs: %w", err)
	}
	var run []string
	for _, st := range g.Steps {
		if st.NotRun == "" {
			run = append(run, st.Name)
		}
	}
	end := g.End
	if end == "" {
		end = qemu.EndHalt
	}
	osrel := DefaultOSRelease + fmt.Sprintf("%s=%s\n%s=%s\n%s=%s\n%s=%s\n",
		FieldChain, osrelQuote(cc.Chain.Name), FieldDigest, cc.Chain.Digest(),
		FieldSteps, osrelQuote(strings.Join(run, " ")), FieldEnd, end)
	return Config{Kernel: kernel, Stub: stub, Initramfs: cpio.Bytes(), Cmdline: g.KernelArgs(), OSRelease: osrel}, g, nil
}

// Fields of a chain image's os-release (its .osrel section).
const (
	FieldChain  = "BOOTCHAIN_CHAIN"  // the chain's name
	FieldDigest = "BOOTCHAIN_DIGEST" // the chain digest, as bootchain plan prints it
	FieldSteps  = "BOOTCHAIN_STEPS"  // the steps that run, in order, separated by spaces
	FieldEnd    = "BOOTCHAIN_END"    // halt or poweroff
)

// osrelQuote quotes v for os-release when it needs it.
func osrelQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"\\$`'") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(v) + `"`
}

// ChainField returns the value of key in the os-release text osrel (a
// Manifest's OSRelease), unquoted, or "" when absent.
func ChainField(osrel, key string) string {
	for _, line := range strings.Split(osrel, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k != key {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			var b strings.Builder
			for i := 1; i < len(v)-1; i++ {
				if v[i] == '\\' && i+1 < len(v)-1 {
					i++
				}
				b.WriteByte(v[i])
			}
			return b.String()
		}
		return v
	}
	return ""
}
