package attest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/bootchain/bootchain/verify"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sampleReport is a finished run with fixed times: two verified steps
// (one from the cache), one in the unverified section, one not asked for.
func sampleReport() *verify.Report {
	ok := func(path, content string) verify.Result {
		return verify.Result{Path: path, SHA256: sum(content), Expected: sum(content), OK: true}
	}
	return &verify.Report{
		OK: true, Chain: "x86", Backend: "qemu", Digest: sum("digest"), Accel: "tcg", KernelSHA256: sum("vmlinuz"),
		Bootchain: verify.Tool{Version: "v0.3.0", Commit: "0123456789abcdef0123456789abcdef01234567"},
		Until:     "later", UntilFrom: verify.UntilFlag,
		Seeds: map[string]string{"kaem-optional-seed": sum("kaem"), "hex0-seed": sum("hex0")},
		Sources: []verify.SourceReport{
			{Name: "stage0-posix", Version: "1.9.1", Form: verify.FormArchive, From: "cache", FilesSHA256: sum("files"), Files: 2, ArchiveSHA256: sum("archive")},
			{Name: "mes", Version: "0.24.2", Form: verify.FormTree, From: "--source", FilesSHA256: sum("mes"), Files: 1},
		},
		Times: verify.Times{Started: "2026-01-02T03:04:05Z", Ended: "2026-01-02T03:09:06Z"},
		Steps: []verify.StepReport{
			{Name: "seed", Status: verify.StatusOK, Seconds: 1.5, Outputs: []verify.Result{ok("x86/bin/hex1", "hex1"), ok("x86/artifact/hex0", "hex0")}},
			{Name: "mini", Status: verify.StatusOK, Cached: true, Outputs: []verify.Result{ok("x86/bin/M2-Planet", "M2")}},
			{Name: "later", Status: verify.StatusUnverified, Outputs: []verify.Result{{Path: "x86/bin/cc", SHA256: sum("cc")}, {Path: "x86/bin/gone"}}},
			{Name: "beyond", Status: verify.StatusNotRequested},
		},
	}
}

func sampleRun(t *testing.T) Run {
	t.Helper()
	r, err := FromReport(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testKey(t testing.TB, name string) *Key {
	t.Helper()
	k, err := LoadKey(filepath.Join("testdata", "keys", name), func() ([]byte, error) { return []byte("hunter2"), nil })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testSigners(t testing.TB) *AllowedSigners {
	t.Helper()
	a, err := LoadAllowedSigners(filepath.Join("testdata", "allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
	}
}

func TestStatementGolden(t *testing.T) {
	st, err := Statement(sampleRun(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		again, _ := Statement(sampleRun(t))
		if a, _ := MarshalStatement(again); !bytes.Equal(a, b) {
			t.Fatal("two encodings of the same run differ")
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, "statement.golden.json", pretty.Bytes())

	// The parts the issue names, read back with plain JSON.
	var s struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string
			Digest map[string]string
		}
		Predicate struct {
			BuildDefinition struct {
				BuildType            string         `json:"buildType"`
				ExternalParameters   map[string]any `json:"externalParameters"`
				ResolvedDependencies []struct{ Name string }
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID      string            `json:"id"`
					Version map[string]string `json:"version"`
				} `json:"builder"`
				Metadata struct{ StartedOn, FinishedOn string } `json:"metadata"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "https://in-toto.io/Statement/v1" || len(s.Subject) != 3 {
		t.Errorf("type %q, %d subjects; want the in-toto v1 type and 3 subjects (the verified outputs)", s.Type, len(s.Subject))
	}
	if got := s.Predicate.BuildDefinition.ExternalParameters; got["chain"] != "x86" || got["chainDigest"] != sum("digest") || got["until"] != "later" {
		t.Errorf("external parameters %v", got)
	}
	if n := len(s.Predicate.BuildDefinition.ResolvedDependencies); n != 4 {
		t.Errorf("%d resolved dependencies, want 2 seeds and 2 sources", n)
	}
	if s.Predicate.RunDetails.Metadata.StartedOn != "2026-01-02T03:04:05Z" || s.Predicate.RunDetails.Builder.Version["bootchain"] != "v0.3.0" {
		t.Errorf("run details %+v", s.Predicate.RunDetails)
	}
}

func TestRoundTrip(t *testing.T) {
	want := sampleRun(t)
	env, err := Sign(context.Background(), want, testKey(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	// ed25519 signatures are deterministic: the envelope is too.
	golden(t, "envelope.golden.json", b)
	env2, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Verify(context.Background(), env2, testSigners(t))
	if err != nil {
		t.Fatal(err)
	}
	want.Started, want.Ended = want.Started.UTC(), want.Ended.UTC()
	if !reflect.DeepEqual(a.Run, want) {
		t.Errorf("run read back differs:\n got %+v\nwant %+v", a.Run, want)
	}
	if len(a.Signers) != 1 || a.Signers[0].Name() != "alice@example.org" {
		t.Errorf("signers %+v, want alice", a.Signers)
	}
}

// TestFromReport: what a report says is what the statement says, for
// runs of several shapes.
func TestFromReport(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*verify.Report)
		subjects int
		check    func(t *testing.T, r Run)
	}{
		{"sample", func(*verify.Report) {}, 3, nil},
		{"sandbox, no accel or kernel", func(r *verify.Report) { r.Backend, r.Accel, r.KernelSHA256 = "sandbox", "", "" }, 3, func(t *testing.T, r Run) {
			if r.Accel != "" || r.KernelSHA256 != "" {
				t.Errorf("accel %q kernel %q, want none", r.Accel, r.KernelSHA256)
			}
		}},
		{"--from mini: seed placed, not claimed", func(r *verify.Report) {
			r.From, r.StartTree = "mini", sum("tree")
			r.Steps[0].Status = verify.StatusPlaced
		}, 1, func(t *testing.T, r Run) {
			if r.From != "mini" || r.StartTree != sum("tree") || r.Steps[0].Status != verify.StatusPlaced || len(r.Steps[0].Outputs) != 0 {
				t.Errorf("from %q tree %q, first step %+v; want mini, the tree, seed placed without outputs", r.From, r.StartTree, r.Steps[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := sampleReport()
			tc.edit(rep)
			r, err := FromReport(rep)
			if err != nil {
				t.Fatal(err)
			}
			st, err := Statement(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Subject) != tc.subjects {
				t.Errorf("%d subjects, want %d", len(st.Subject), tc.subjects)
			}
			b, _ := MarshalStatement(st)
			st2, prov, err := ParseStatement(b)
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromStatement(st2, prov)
			if err != nil {
				t.Fatal(err)
			}
			r.Started, r.Ended = r.Started.UTC(), r.Ended.UTC()
			if !reflect.DeepEqual(back, r) {
				t.Errorf("read back\n%+v\nwant\n%+v", back, r)
			}
			if tc.check != nil {
				tc.check(t, back)
			}
		})
	}
}

func TestFromReportRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*verify.Report)
		want string
	}{
		{"failed run", func(r *verify.Report) { r.OK, r.Error = false, "step mini: x86/bin/M2-Planet: missing" }, "the run failed (step mini: x86/bin/M2-Planet: missing)"},
		{"nothing verified", func(r *verify.Report) { r.Steps = r.Steps[2:] }, "the run verified no file"},
		{"ok step with a mismatch", func(r *verify.Report) { r.Steps[0].Outputs[0].OK = false }, "step seed is ok but its output x86/bin/hex1 does not match its pin"},
		{"bad time", func(r *verify.Report) { r.Times.Ended = "yesterday" }, "end time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := sampleReport()
			tc.edit(rep)
			_, err := FromReport(rep)
			if !errors.Is(err, ErrNotAttestable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrNotAttestable with %q", err, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	k := testKey(t, "alice")
	// The key id is what ssh-keygen -l prints for the key.
	if got, want := k.ID(), "SHA256:MmtR5AcLYDstLqmBhfNFwisM2hFdvfmM4HRMOVpr55A"; got != want {
		t.Errorf("key id %s, want %s", got, want)
	}
	tests := []struct {
		name, key string
		ask       func() ([]byte, error)
		want      error
		msg       string
	}{
		{"passphrase, no way to ask", "dave", nil, ErrPassphrase, "protected by a passphrase"},
		{"passphrase, asking fails", "dave", func() ([]byte, error) { return nil, errors.New("no tty") }, ErrPassphrase, "no tty"},
		{"wrong passphrase", "dave", func() ([]byte, error) { return []byte("nope"), nil }, nil, "wrong passphrase"},
		{"not ed25519", "rsa", nil, nil, "expected an ed25519 key"},
		{"public key", "alice.pub", nil, nil, "not an OpenSSH private key"},
		{"missing", "nobody", nil, os.ErrNotExist, "key testdata/keys/nobody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKey(filepath.Join("testdata", "keys", tc.key), tc.ask)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	if _, err := LoadKey(filepath.Join("testdata", "keys", "dave"), func() ([]byte, error) { return []byte("hunter2"), nil }); err != nil {
		t.Errorf("dave with the right passphrase: %v", err)
	}
}

// signedBy returns the sample run signed by the named keys, as JSON.
func signedBy(t *testing.T, edit func(*Run), names ...string) []byte {
	t.Helper()
	r := sampleRun(t)
	if edit != nil {
		edit(&r)
	}
	var keys []*Key
	for _, n := range names {
		keys = append(keys, testKey(t, n))
	}
	env, err := Sign(context.Background(), r, keys...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editEnvelope decodes b, lets edit change it and encodes it again.
func editEnvelope(t *testing.T, b []byte, edit func(*dsse.Envelope)) []byte {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	edit(&env)
	out, err := json.Marshal(&env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func editPayload(t *testing.T, b []byte, from, to string) []byte {
	return editEnvelope(t, b, func(e *dsse.Envelope) {
		p, _ := base64.StdEncoding.DecodeString(e.Payload)
		if !bytes.Contains(p, []byte(from)) {
			t.Fatalf("payload has no %q", from)
		}
		e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(p, []byte(from), []byte(to), 1))
	})
}

func TestVerifyRefuses(t *testing.T) {
	good := signedBy(t, nil, "alice")
	carolID := testKey(t, "carol").ID()
	tests := []struct {
		name string
		env  []byte
		want error
		msg  string
	}{
		{"tampered payload", editPayload(t, good, sum("M2"), sum("M3")), ErrBadSignature, "by alice@example.org (SHA256:MmtR5AcLYDstLqmBhfNFwisM2hFdvfmM4HRMOVpr55A): it does not match the payload, which was changed after signing"},
		{"unknown key", signedBy(t, nil, "carol"), ErrUnknownKey, "signature by an unknown key " + carolID + ": it is not in testdata/allowed_signers"},
		{"unknown key without key id", editEnvelope(t, signedBy(t, nil, "carol"), func(e *dsse.Envelope) { e.Signatures[0].KeyID = "" }), ErrUnknownKey, "made by no key in"},
		{"alice's key id on carol's signature", editEnvelope(t, signedBy(t, nil, "carol"), func(e *dsse.Envelope) { e.Signatures[0].KeyID = testKey(t, "alice").ID() }), ErrBadSignature, "alice@example.org"},
		{"second signature unknown", signedBy(t, nil, "alice", "carol"), ErrUnknownKey, carolID},
		{"wrong payload type", editEnvelope(t, good, func(e *dsse.Envelope) { e.PayloadType = "text/plain" }), ErrPayloadType, `wrong payload type: "text/plain", expected "application/vnd.in-toto+json"`},
		{"valid only later", signedBy(t, func(r *Run) { r.Ended = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }, "dave"), ErrNotAllowed, "dave@example.org (SHA256:"},
		{"no signature", editEnvelope(t, good, func(e *dsse.Envelope) { e.Signatures = nil }), ErrUnsigned, "no signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ParseEnvelope(tc.env)
			if err == nil {
				_, err = Verify(context.Background(), env, testSigners(t))
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v\nwant %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	// Bob's line allows bootchain among its namespaces; a line for git
	// alone does not.
	if _, err := verifyWith(t, signedBy(t, nil, "bob"), testSigners(t)); err != nil {
		t.Errorf("bob: %v", err)
	}
	gitOnly, err := ParseAllowedSigners("git_signers", []byte("bob@example.org namespaces=\"git\" "+pubLine(t, "bob")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(t, signedBy(t, nil, "bob"), gitOnly); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "allowed only for namespaces git, not bootchain") {
		t.Errorf("git-only key: %v", err)
	}
}

func verifyWith(t *testing.T, b []byte, a *AllowedSigners) (*Attestation, error) {
	t.Helper()
	env, err := ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	return Verify(context.Background(), env, a)
}

func pubLine(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}

func TestParseEnvelopeMalformed(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"not JSON", "hello", "malformed envelope: invalid character"},
		{"array", "[]", "malformed envelope: json: cannot unmarshal array"},
		{"no payload type", `{"payload":"","signatures":[{"sig":""}]}`, "no payloadType"},
		{"no payload", `{"payloadType":"x","signatures":[{"sig":""}]}`, "no payload"},
		{"payload not base64", `{"payloadType":"x","payload":"!!","signatures":[{"sig":""}]}`, "payload is not base64"},
		{"sig not base64", `{"payloadType":"x","payload":"","signatures":[{"keyid":"k","sig":"%"}]}`, "signature 1 is not base64"},
		{"no sig", `{"payloadType":"x","payload":"","signatures":[{"keyid":"k"}]}`, "signature 1 has no sig"},
		{"two objects", `{"payloadType":"x","payload":"","signatures":[{"sig":""}]} {}`, "data after the JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tc.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrMalformed with %q", err, tc.msg)
			}
		})
	}
}

func TestOpenRefusesOtherStatements(t *testing.T) {
	good := signedBy(t, nil, "alice")
	tests := []struct{ name, from, to, msg string }{
		{"other predicate", `"predicateType":"https://slsa.dev/provenance/v1"`, `"predicateType":"https://slsa.dev/provenance/v0.2"`, "predicate type"},
		{"other build type", BuildType, "https://example.org/make", "build type"},
		{"other statement type", "https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v9", "wrong statement type"},
		{"not JSON", `{"_type"`, `{_type`, "not a statement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ParseEnvelope(editPayload(t, good, tc.from, tc.to))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(env)
			if !errors.Is(err, ErrStatement) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrStatement with %q", err, tc.msg)
			}
		})
	}
}

func TestParseAllowedSigners(t *testing.T) {
	alice := pubLine(t, "alice")
	tests := []struct {
		name, in string
		want     []AllowedSigner // Key and Line not compared
		err      string
	}{
		{"plain", "alice " + alice + " a comment\n", []AllowedSigner{{Principals: []string{"alice"}}}, ""},
		{"comments and blanks", "# who\n\n  alice " + alice + "\n", []AllowedSigner{{Principals: []string{"alice"}}}, ""},
		{"several principals", "a@x,b@y " + alice, []AllowedSigner{{Principals: []string{"a@x", "b@y"}}}, ""},
		{"quoted principals", `"a@x,b y" ` + alice, []AllowedSigner{{Principals: []string{"a@x", "b y"}}}, ""},
		{"namespaces", `alice namespaces="git,boot*" ` + alice, []AllowedSigner{{Principals: []string{"alice"}, Namespaces: []string{"git", "boot*"}}}, ""},
		{"valid times", `alice valid-after="20250102",valid-before="202601020304Z" ` + alice, []AllowedSigner{{Principals: []string{"alice"},
			ValidAfter: time.Date(2025, 1, 2, 0, 0, 0, 0, time.Local), ValidBefore: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}}, ""},
		{"no key", "alice\n", nil, "line 1: expected principals, then a key"},
		{"bad key", "alice ssh-ed25519 AAAA", nil, "line 1: key:"},
		{"cert authority", "alice cert-authority " + alice, nil, "cert-authority: attestations carry no certificates"},
		{"unknown option", "alice no-touch-required " + alice, nil, `unknown option "no-touch-required"`},
		{"bad time", `alice valid-after="2025" ` + alice, nil, `valid-after: time "2025", expected YYYYMMDD[HHMM[SS]][Z]`},
		{"unterminated quote", `"alice ` + alice, nil, "unterminated quote"},
		{"rsa", "alice " + pubLine(t, "rsa"), nil, "key type ssh-rsa, expected ssh-ed25519"},
		{"second line bad", "alice " + alice + "\nbob\n", nil, "line 2:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAllowedSigners("signers", []byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "allowed signers signers line ") {
					t.Errorf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range a.Signers {
				a.Signers[i].Key, a.Signers[i].Line = nil, 0
			}
			if !reflect.DeepEqual(a.Signers, tc.want) {
				t.Errorf("got %+v\nwant %+v", a.Signers, tc.want)
			}
		})
	}
}
