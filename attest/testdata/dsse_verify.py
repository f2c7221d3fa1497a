#!/usr/bin/env python3
"""An implementation of DSSE verification apart from bootchain's, for its tests.

usage: dsse_verify.py ENVELOPE PUBKEY

Verifies every signature of the DSSE envelope ENVELOPE with the OpenSSH
ed25519 public key PUBKEY (python3-cryptography), computing the
pre-authentication encoding from the DSSE specification itself, then prints
the in-toto Statement's subjects, one "sha256  name" line each, sorted.
Exits 1 with a message when a signature does not verify.
"""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_ssh_public_key


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def main() -> int:
    env = json.load(open(sys.argv[1]))
    key = load_ssh_public_key(open(sys.argv[2], "rb").read())
    payload = base64.b64decode(env["payload"], validate=True)
    message = pae(env["payloadType"].encode(), payload)
    if not env["signatures"]:
        print("no signatures", file=sys.stderr)
        return 1
    for s in env["signatures"]:
        try:
            key.verify(base64.b64decode(s["sig"], validate=True), message)
        except InvalidSignature:
            print("signature %s does not verify" % s.get("keyid", ""), file=sys.stderr)
            return 1
    statement = json.loads(payload)
    for line in sorted("%s  %s" % (d["digest"]["sha256"], d["name"]) for d in statement["subject"]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
