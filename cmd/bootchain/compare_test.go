package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdEditPayload is the testscript command "editpayload FILE OLD NEW": it
// replaces OLD by NEW in the payload of the DSSE envelope FILE, leaving
// its signatures as they were (what editing a report after signing does).
func cmdEditPayload(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: editpayload FILE OLD NEW")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	var env map[string]any
	ts.Check(json.Unmarshal(b, &env))
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	ts.Check(err)
	if !bytes.Contains(payload, []byte(args[1])) {
		ts.Fatalf("editpayload: the payload of %s has no %q", args[0], args[1])
	}
	env["payload"] = base64.StdEncoding.EncodeToString(bytes.ReplaceAll(payload, []byte(args[1]), []byte(args[2])))
	out, err := json.MarshalIndent(env, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(path, out, 0o644))
}
