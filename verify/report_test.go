package verify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sampleReport() *Report {
	return &Report{
		OK:        false,
		Chain:     "x86",
		Backend:   "sandbox",
		Seeds:     map[string]string{"kaem-optional-seed": sum("kaem"), "hex0-seed": sum("hex0")},
		Bootchain: Tool{Version: "(devel)", Commit: "unknown"},
		Until:     "later", UntilFrom: UntilDefault,
		Digest: sum("digest"),
		Sources: []SourceReport{
			{Name: "stage0-posix", Version: "1.9.1", Form: FormArchive, From: "cache", FilesSHA256: sum("files"), Files: 2, ArchiveSHA256: sum("archive")},
			{Name: "mes", Form: FormTree, From: "--source", FilesSHA256: sum("mes"), Files: 1},
		},
		Times: Times{Started: "2026-01-02T03:04:05Z", Ended: "2026-01-02T03:04:06Z"},
		Steps: []StepReport{
			{
				Name: "seed", Status: StatusOK, Seconds: 1.5, Cached: true,
				Inputs:  []Result{{Path: "x86/hex0_x86.hex0", SHA256: sum("h"), Expected: sum("h"), OK: true}},
				Outputs: []Result{{Path: "x86/artifact/hex1", SHA256: sum("1"), Expected: sum("1"), OK: true, Derived: true}},
				Command: []string{"bootstrap-seeds/POSIX/x86/kaem-optional-seed", "./x86/mescc-tools-seed-kaem.kaem"},
			},
			{
				Name: "mini", Status: StatusFailed, Seconds: 0.25,
				Outputs: []Result{
					{Path: "x86/bin/M2-Planet", Expected: sum("M2"), Problem: "missing"},
					{Path: "x86/bin/<&>", SHA256: sum("x"), Expected: sum("y")},
				},
				Undeclared: []string{"x86/tmp"},
				Command:    []string{"x86/bin/kaem", "--file", "mini.kaem"},
				LogTail:    []string{"line 1", "error: \"quoted\""},
				WorkDir:    "work/mini",
			},
			{Name: "later", Status: StatusSkipped},
			{Name: "beyond", Status: StatusNotRequested},
		},
		Error: "step mini: x86/bin/M2-Planet: missing",
	}
}

func TestReportGolden(t *testing.T) {
	got, err := MarshalReport(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report JSON differs from %s (go test -update to accept):\n%s", golden, got)
	}
	// Encoding twice gives the same bytes (map order does not leak).
	for i := 0; i < 20; i++ {
		again, _ := MarshalReport(sampleReport())
		if !bytes.Equal(again, got) {
			t.Fatal("two encodings of the same report differ")
		}
	}
	// The documented field names are all there.
	for _, key := range []string{`"ok"`, `"chain"`, `"backend"`, `"seeds"`, `"digest"`, `"steps"`, `"name"`, `"status"`,
		`"seconds"`, `"cached"`, `"inputs"`, `"outputs"`, `"path"`, `"sha256"`, `"expected"`, `"undeclared"`,
		`"command"`, `"log_tail"`, `"work_dir"`, `"error"`, `"bootchain"`, `"version"`, `"commit"`, `"until"`,
		`"until_from"`, `"sources"`, `"form"`, `"from"`, `"files_sha256"`, `"archive_sha256"`, `"times"`, `"started"`, `"ended"`} {
		if !bytes.Contains(got, []byte(key)) {
			t.Errorf("report JSON lacks %s", key)
		}
	}
	var back Report
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("report does not parse back: %v", err)
	}
	if back.Steps[2].Inputs == nil || back.Steps[2].Outputs == nil {
		t.Error("empty inputs/outputs should be written as [], not null")
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := MarshalReport(sampleReport())
	if !bytes.Equal(got, want) {
		t.Errorf("written report differs from MarshalReport")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only r.json (no temp files)", names)
	}

	// A report that cannot be written leaves nothing behind.
	bad := filepath.Join(dir, "missing-dir", "r.json")
	if err := WriteReport(bad, sampleReport()); err == nil || !strings.Contains(err.Error(), "write report") {
		t.Errorf("WriteReport into a missing directory: err = %v", err)
	}
}

func TestCheckReportPath(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path, want string
	}{
		{"new file", filepath.Join(dir, "r.json"), ""},
		{"missing directory", filepath.Join(dir, "nodir", "r.json"), "cannot write there"},
		{"a directory", dir, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReportPath(tc.path)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckReportPath(%s) = %v, want %q", tc.path, err, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("CheckReportPath left %d files behind", len(ents))
	}
}

func TestCurrentTool(t *testing.T) {
	a, b := CurrentTool(), CurrentTool()
	if a != b || a.Version == "" || a.Commit == "" {
		t.Errorf("CurrentTool() = %+v then %+v: want the same, with a version and a commit (or \"unknown\")", a, b)
	}
}
