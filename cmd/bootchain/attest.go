package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
	return writeAttestation(ctx, stdout, rep, pos[0], k, *out)
}

// writeAttestation signs the report rep (read from, or written to, name)
// with k into out and says what it signed.
func writeAttestation(ctx context.Context, stdout io.Writer, rep *verify.Report, name string, k *attest.Key, out string) error {
	r, err := attest.FromReport(rep)
	if err != nil {
		return fmt.Errorf("report %s: %w", name, err)
	}
	env, err := attest.Sign(ctx, r, k)
	if err != nil {
		return fmt.Errorf("report %s: %w", name, err)
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
