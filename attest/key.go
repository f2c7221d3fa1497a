package attest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/crypto/ssh"

	"github.com/bootchain/bootchain/verify"
)

// ErrPassphrase is wrapped by LoadKey's error for a passphrase-protected
// key when there is no way to ask for its passphrase.
var ErrPassphrase = errors.New("key is protected by a passphrase")

// Key is an ed25519 private key that signs attestations (a dsse.Signer).
type Key struct {
	priv ed25519.PrivateKey
	pub  ssh.PublicKey
}

// ParseKey reads an ed25519 private key in OpenSSH's format (what
// `ssh-keygen -t ed25519` writes). For a key protected by a passphrase,
// passphrase is called to get it; a nil passphrase, or one that returns
// an error, makes that an error wrapping ErrPassphrase.
func ParseKey(pemBytes []byte, passphrase func() ([]byte, error)) (*Key, error) {
	raw, err := ssh.ParseRawPrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, ErrPassphrase
		}
		pw, perr := passphrase()
		if perr != nil {
			return nil, fmt.Errorf("%w: %v", ErrPassphrase, perr)
		}
		raw, err = ssh.ParseRawPrivateKeyWithPassphrase(pemBytes, pw)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, errors.New("wrong passphrase")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not an OpenSSH private key: %w", err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		priv = *k
	case ed25519.PrivateKey:
		priv = k
	default:
		return nil, fmt.Errorf("a %T, expected an ed25519 key (ssh-keygen -t ed25519)", raw)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{priv: priv, pub: pub}, nil
}

// LoadKey reads the private key at path (see ParseKey). Errors name the
// file.
func LoadKey(path string, passphrase func() ([]byte, error)) (*Key, error) {
	b, err := verify.ReadRegular(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	k, err := ParseKey(b, passphrase)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

// Public returns the key's public half.
func (k *Key) Public() ssh.PublicKey { return k.pub }

// ID returns the key's id: its fingerprint as `ssh-keygen -l` prints it.
func (k *Key) ID() string { return KeyID(k.pub) }

// Sign implements dsse.Signer: data is the envelope's pre-authentication
// encoding.
func (k *Key) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(k.priv, data), nil
}

// KeyID implements dsse.Signer.
func (k *Key) KeyID() (string, error) { return k.ID(), nil }

// KeyID returns the fingerprint of pub as `ssh-keygen -l` prints it:
// "SHA256:" and the unpadded base64 of the SHA-256 of the wire-format key.
func KeyID(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }

// verifier is a dsse.Verifier for one ed25519 public key.
type verifier struct {
	pub ssh.PublicKey
	key ed25519.PublicKey
}

func newVerifier(pub ssh.PublicKey) (*verifier, error) {
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return nil, fmt.Errorf("key type %s, expected ssh-ed25519", pub.Type())
	}
	k, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key type %s, expected ssh-ed25519", pub.Type())
	}
	return &verifier{pub: pub, key: k}, nil
}

// Verify implements dsse.Verifier.
func (v *verifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.key, data, sig) {
		return errors.New("ed25519: bad signature")
	}
	return nil
}

func (v *verifier) KeyID() (string, error)   { return KeyID(v.pub), nil }
func (v *verifier) Public() crypto.PublicKey { return v.key }

var (
	_ dsse.Signer   = (*Key)(nil)
	_ dsse.Verifier = (*verifier)(nil)
)
