// Package attest turns a bootchain run into a signed claim others can
// check, and compares many such claims. A run's report (verify.Report)
// becomes an in-toto Statement v1 whose subjects are the run's verified
// outputs (path and SHA-256) and whose predicate is SLSA provenance v1:
// the chain and its digest, where the run was asked to stop, the seeds and
// sources it used with their digests, and the bootchain, backend,
// accelerator, kernel and times it ran with. The Statement is signed into
// a DSSE envelope with an ed25519 key in OpenSSH format; its key id is the
// key's fingerprint as `ssh-keygen -l` prints it (SHA256:...). Envelopes
// are verified against an OpenSSH allowed-signers file, the format git
// uses for SSH signing, and Compare lines up several parties' runs (signed
// or plain reports) step by step, naming every file on which two disagree.
package attest
