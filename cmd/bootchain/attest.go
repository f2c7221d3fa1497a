package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	xterm "golang.org/x/term"

	"github.com/bootchain/bootchain/attest"
	"github.com/bootchain/bootchain/verify"
)

// passphraseEnv holds the passphrase of a protected key when bootchain
// cannot ask for it on a terminal (CI, scripts).
const passphraseEnv = "BOOTCHAIN_KEY_PASSPHRASE"

func cmdAttest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("attest", "--key KEY --out FILE REPORT", stderr)
	key := fs.String("key", "", "ed25519 private key in OpenSSH format (ssh-keygen -t ed25519)")
	out := fs.String("out", "", "write the signed attestation (a DSSE envelope) to this file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("attest: expected one report, found %d arguments", len(pos))
	}
	if *key == "" || *out == "" {
		return usagef("attest: --key and --out are required")
	}
	rep, err := verify.ReadReport(pos[0])
	if err != nil {
		return err
	}
	k, err := loadKey(*key, stderr)
	if err != nil {
		return err
	}
	return writeAttestation(ctx, stdout, rep, "report "+pos[0], k, *out)
}

// writeAttestation signs the report rep (of what: "report FILE" or "this
// run") with k into out and says what it signed.
func writeAttestation(ctx context.Context, stdout io.Writer, rep *verify.Report, what string, k *attest.Key, out string) error {
	r, err := attest.FromReport(rep)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	env, err := attest.Sign(ctx, r, k)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := attest.WriteEnvelope(out, env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "attestation %s: %d verified files of chain %s (digest %s), %s backend, signed by %s\n",
		out, r.Verified(), r.Chain, r.ChainDigest, r.Backend, k.ID())
	return nil
}

// loadKey reads a signing key; a passphrase comes from $BOOTCHAIN_KEY_PASSPHRASE
// or, when standard input is a terminal, from a prompt on stderr.
func loadKey(path string, stderr io.Writer) (*attest.Key, error) {
	var ask func() ([]byte, error)
	if pw, ok := os.LookupEnv(passphraseEnv); ok {
		ask = func() ([]byte, error) { return []byte(pw), nil }
	} else if fd := int(os.Stdin.Fd()); xterm.IsTerminal(fd) {
		ask = func() ([]byte, error) {
			fmt.Fprintf(stderr, "Enter passphrase for %s: ", path)
			pw, err := xterm.ReadPassword(fd)
			fmt.Fprintln(stderr)
			return pw, err
		}
	}
	k, err := attest.LoadKey(path, ask)
	if errors.Is(err, attest.ErrPassphrase) && ask == nil {
		return nil, fmt.Errorf("%w and there is no terminal to ask for it: set %s or run from a terminal", err, passphraseEnv)
	}
	return k, err
}

// attestFlags are run's --attest FILE --key KEY.
type attestFlags struct{ out, key *string }

func addAttestFlags(fs *flag.FlagSet) *attestFlags {
	return &attestFlags{
		out: fs.String("attest", "", "after a run that verified every step, write a signed attestation of it (in-toto, DSSE) to this `FILE`"),
		key: fs.String("key", "", "sign the attestation with this ed25519 private `KEY` (OpenSSH format)"),
	}
}

// load checks --attest and --key before the run: both or neither, the key
// readable (its passphrase asked for now), the file's directory writable.
// It returns nil when no attestation was asked for.
func (f *attestFlags) load(cmd string, stderr io.Writer) (*attest.Key, error) {
	if (*f.out == "") != (*f.key == "") {
		return nil, usagef("%s: --attest FILE and --key KEY go together", cmd)
	}
	if *f.out == "" {
		return nil, nil
	}
	k, err := loadKey(*f.key, stderr)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(*f.out); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("attestation %s: is a directory, expected a file name", *f.out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*f.out), "."+filepath.Base(*f.out)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("attestation %s: cannot write there: %w", *f.out, err)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return k, nil
}
