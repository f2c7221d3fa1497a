package verify

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	want := sampleReport()
	if err := WriteReport(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	// The writer turns nil lists into empty ones; compare encodings.
	a, _ := MarshalReport(got)
	b, _ := MarshalReport(want)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("report read back differs:\n%s\nwant\n%s", a, b)
	}

	tests := []struct{ name, in, msg string }{
		{"not JSON", "nope", "not a bootchain report: invalid character"},
		{"unknown field", `{"chain":"x","digest":"d","payloadType":"x"}`, `unknown field "payloadType"`},
		{"no chain", `{"ok":true}`, "no chain or digest"},
		{"two objects", `{"chain":"x","digest":"d"} {}`, "data after the JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.json")
			os.WriteFile(p, []byte(tc.in), 0o644)
			_, err := ReadReport(p)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "report "+p+": ") {
				t.Errorf("error %v, want one naming the file with %q", err, tc.msg)
			}
		})
	}
}
