package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Errors of reading and verifying an envelope, for callers that branch.
var (
	ErrMalformed    = errors.New("malformed envelope")
	ErrPayloadType  = errors.New("wrong payload type")
	ErrUnknownKey   = errors.New("signature by an unknown key")
	ErrBadSignature = errors.New("bad signature")
	ErrNotAllowed   = errors.New("key not allowed")
	ErrUnsigned     = errors.New("no signature")
)

// Sign states r, checks the Statement, and signs it with keys (at least
// one) into a DSSE envelope.
func Sign(ctx context.Context, r Run, keys ...*Key) (*dsse.Envelope, error) {
	if len(keys) == 0 {
		return nil, errors.New("sign: no key")
	}
	st, err := Statement(r)
	if err != nil {
		return nil, err
	}
	payload, err := MarshalStatement(st)
	if err != nil {
		return nil, err
	}
	signers := make([]dsse.Signer, len(keys))
	for i, k := range keys {
		signers[i] = k
	}
	es, err := dsse.NewEnvelopeSigner(signers...)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	env, err := es.SignPayload(ctx, PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return env, nil
}

// MarshalEnvelope returns env as indented JSON and a newline.
func MarshalEnvelope(env *dsse.Envelope) ([]byte, error) {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteEnvelope writes env to path atomically (a synced temporary file
// in the same directory, renamed over path).
func WriteEnvelope(path string, env *dsse.Envelope) error {
	b, err := MarshalEnvelope(env)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("attestation %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("attestation %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ParseEnvelope reads a DSSE envelope in its JSON form: an object with a
// payloadType, a base64 payload and at least one signature whose sig is
// base64. It checks the form only, not the signatures; errors wrap
// ErrMalformed (or ErrUnsigned when there is no signature).
func ParseEnvelope(b []byte) (*dsse.Envelope, error) {
	var raw struct {
		PayloadType *string `json:"payloadType"`
		Payload     *string `json:"payload"`
		Signatures  []struct {
			KeyID *string `json:"keyid"`
			Sig   *string `json:"sig"`
		} `json:"signatures"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	switch {
	case raw.PayloadType == nil:
		return nil, fmt.Errorf("%w: no payloadType", ErrMalformed)
	case raw.Payload == nil:
		return nil, fmt.Errorf("%w: no payload", ErrMalformed)
	case len(raw.Signatures) == 0:
		return nil, ErrUnsigned
	}
	if _, err := base64.StdEncoding.DecodeString(*raw.Payload); err != nil {
		return nil, fmt.Errorf("%w: payload is not base64: %v", ErrMalformed, err)
	}
	env := &dsse.Envelope{PayloadType: *raw.PayloadType, Payload: *raw.Payload}
	for i, s := range raw.Signatures {
		if s.Sig == nil {
			return nil, fmt.Errorf("%w: signature %d has no sig", ErrMalformed, i+1)
		}
		if _, err := base64.StdEncoding.DecodeString(*s.Sig); err != nil {
			return nil, fmt.Errorf("%w: signature %d is not base64: %v", ErrMalformed, i+1, err)
		}
		var id string
		if s.KeyID != nil {
			id = *s.KeyID
		}
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: id, Sig: *s.Sig})
	}
	return env, nil
}

// Attestation is an envelope's content: the run its Statement states and
// who signed it.
type Attestation struct {
	Run       Run
	Statement *intoto.Statement
	// Signers are the allowed signers whose signatures verified, one per
	// signature, in the envelope's order (empty when not checked).
	Signers []AllowedSigner
	// KeyIDs are the key ids the signatures name.
	KeyIDs []string
}

// Open reads the Statement in env without checking any signature: for
// showing what an envelope claims, never for trusting it.
func Open(env *dsse.Envelope) (*Attestation, error) {
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: %q, expected %q", ErrPayloadType, env.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64: %v", ErrMalformed, err)
	}
	st, prov, err := ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	r, err := FromStatement(st, prov)
	if err != nil {
		return nil, err
	}
	a := &Attestation{Run: r, Statement: st}
	for _, s := range env.Signatures {
		a.KeyIDs = append(a.KeyIDs, s.KeyID)
	}
	return a, nil
}

// Verify checks every signature of env against allowed and returns what
// the envelope states. Each signature must name (or, without a key id,
// be made by) a key of allowed, verify over the DSSE pre-authentication
// encoding of the payload, and be allowed for bootchain's namespace at
// the time the run ended. The first failure is the error: ErrPayloadType,
// ErrUnknownKey, ErrBadSignature, ErrNotAllowed, ErrStatement.
func Verify(ctx context.Context, env *dsse.Envelope, allowed *AllowedSigners) (*Attestation, error) {
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: %q, expected %q", ErrPayloadType, env.PayloadType, PayloadType)
	}
	if len(env.Signatures) == 0 {
		return nil, ErrUnsigned
	}
	var signers []AllowedSigner
	for _, sig := range env.Signatures {
		candidates := allowed.Signers
		if sig.KeyID != "" {
			candidates = allowed.Lookup(sig.KeyID)
			if len(candidates) == 0 {
				return nil, fmt.Errorf("%w %s: it is not in %s", ErrUnknownKey, sig.KeyID, allowed.File)
			}
		}
		one := &dsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: []dsse.Signature{sig}}
		var found *AllowedSigner
		for i := range candidates {
			v, err := newVerifier(candidates[i].Key)
			if err != nil {
				continue
			}
			ev, err := dsse.NewEnvelopeVerifier(v)
			if err != nil {
				return nil, err
			}
			if _, err := ev.Verify(ctx, one); err == nil {
				found = &candidates[i]
				break
			}
		}
		if found == nil {
			if sig.KeyID == "" {
				return nil, fmt.Errorf("%w: a signature without a key id was made by no key in %s", ErrUnknownKey, allowed.File)
			}
			return nil, fmt.Errorf("%w by %s (%s): it does not match the payload, which was changed after signing", ErrBadSignature, candidates[0].Name(), sig.KeyID)
		}
		signers = append(signers, *found)
	}
	a, err := Open(env)
	if err != nil {
		return nil, err
	}
	for _, s := range signers {
		if err := s.allows(a.Run.Ended); err != nil {
			return nil, fmt.Errorf("%w: %s (%s, %s line %d) is %v", ErrNotAllowed, s.Name(), KeyID(s.Key), allowed.File, s.Line, err)
		}
	}
	a.Signers = signers
	return a, nil
}
