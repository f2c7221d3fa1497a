package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	a, b := sum("a"), sum("b")
	tests := []struct {
		name    string
		in      string
		want    []Pin
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "text mode", in: a + "  x86/bin/hex1\n", want: []Pin{{"x86/bin/hex1", a}}},
		{name: "binary marker", in: a + " *x86/bin/hex1\n", want: []Pin{{"x86/bin/hex1", a}}},
		{name: "upper-case hex", in: strings.ToUpper(a) + "  f\n", want: []Pin{{"f", a}}},
		{name: "list order kept", in: b + "  z\n" + a + "  a\n", want: []Pin{{"z", b}, {"a", a}}},
		{name: "comments, blank lines, CRLF", in: "# pins\n\n" + a + "  f\r\n   \n", want: []Pin{{"f", a}}},
		{name: "no final newline", in: a + "  f", want: []Pin{{"f", a}}},
		{name: "dot slash cleaned", in: a + "  ./x86/./bin//hex1\n", want: []Pin{{"x86/bin/hex1", a}}},
		{name: "space in name", in: a + "  a file\n", want: []Pin{{"a file", a}}},
		{name: "escaped name", in: `\` + a + `  new\nline\\back` + "\n", want: []Pin{{"new\nline\\back", a}}},
		{name: "short hash", in: a[:63] + "  f\n", wantErr: "line 1: expected 64 hex digits"},
		{name: "not hex", in: "g" + a[1:] + "  f\n", wantErr: "line 1: expected 64 hex digits"},
		{name: "one space", in: a + " f\n", wantErr: "line 1: expected two spaces"},
		{name: "tab", in: a + "\tf\n", wantErr: "line 1: expected two spaces"},
		{name: "no path", in: a + "\n", wantErr: "line 1: expected \"<64 hex sha256>  <path>\""},
		{name: "empty path", in: a + "  \n", wantErr: "line 1: empty path"},
		{name: "absolute", in: "\n" + a + "  /usr/bin/tcc\n", wantErr: "line 2: path \"/usr/bin/tcc\" is absolute"},
		{name: "dot dot", in: a + "  ../etc/passwd\n", wantErr: "line 1: path \"../etc/passwd\" leads outside the root"},
		{name: "duplicate", in: a + "  f\n" + b + "  ./f\n", wantErr: "line 2: f is listed again (first on line 1)"},
		{name: "bad escape", in: `\` + a + `  a\tb` + "\n", wantErr: `line 1: path "a\\tb" has unknown escape \t`},
		{name: "BSD tag format", in: "SHA256 (f) = " + a + "\n", wantErr: "line 1: expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseList error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseList = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckList(t *testing.T) {
	root := writeTree(t, map[string]string{"x86/bin/hex1": "one", "x86/bin/hex2": "two", "x86/bin/catm": "tampered"})
	list := sum("one") + "  x86/bin/hex1\n" +
		sum("two") + " *x86/bin/hex2\n" +
		sum("catm") + "  x86/bin/catm\n" +
		sum("M0") + "  x86/bin/M0\n"
	got, err := CheckList(root, strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Path: "x86/bin/M0", Expected: sum("M0"), Problem: "missing"},
		{Path: "x86/bin/catm", SHA256: sum("tampered"), Expected: sum("catm")},
		{Path: "x86/bin/hex1", SHA256: sum("one"), Expected: sum("one"), OK: true},
		{Path: "x86/bin/hex2", SHA256: sum("two"), Expected: sum("two"), OK: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CheckList =\n%+v\nwant\n%+v", got, want)
	}
	msg := got[0].Err("").Error()
	if want := "x86/bin/M0: missing, expected sha256 " + sum("M0"); msg != want {
		t.Errorf("missing file message = %q, want %q", msg, want)
	}

	if _, err := CheckList(root, strings.NewReader("junk\n")); err == nil || !strings.Contains(err.Error(), "hash list: line 1") {
		t.Errorf("CheckList(junk) error = %v, want a line-numbered parse error", err)
	}
}

// TestCheckListAgreesWithSha256sum checks that a list sha256sum writes is
// read the same way, and that the results agree with `sha256sum -c`.
func TestCheckListAgreesWithSha256sum(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum not installed")
	}
	root := writeTree(t, map[string]string{"a": "A", "dir/b c": "B", "back\\slash": "S"})
	cmd := exec.Command("sha256sum", "a", "dir/b c", "back\\slash")
	cmd.Dir = root
	list, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := CheckList(root, strings.NewReader(string(list)))
	if err != nil {
		t.Fatalf("CheckList(sha256sum output): %v\n%s", err, list)
	}
	if len(got) != 3 {
		t.Fatalf("got %d results, want 3", len(got))
	}
	for _, r := range got {
		if !r.OK {
			t.Errorf("%s: not OK: %+v", r.Path, r)
		}
	}
	// Now tamper and check both tools fail on the same file.
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("X"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("sha256sum", "-c", "--quiet", "-")
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(string(list))
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "a: FAILED") {
		t.Fatalf("sha256sum -c did not flag a: %s", out)
	}
	got, err = CheckList(root, strings.NewReader(string(list)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.OK == (r.Path == "a") {
			t.Errorf("%s: OK=%v after tampering with a", r.Path, r.OK)
		}
	}
}

func FuzzParseList(f *testing.F) {
	a := sum("a")
	for _, s := range []string{
		"",
		a + "  x86/bin/hex1\n",
		a + " *f\n# c\n\n",
		`\` + a + `  a\nb` + "\n",
		a + "  ../x\n",
		a + "  f\n" + a + "  f\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pins, err := ParseList(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range pins {
			if !IsSHA256(p.SHA256) {
				t.Fatalf("pin %q has sha256 %q", p.Path, p.SHA256)
			}
			c, err := CleanPath(p.Path)
			if err != nil || c != p.Path {
				t.Fatalf("pin path %q is not clean (%q, %v)", p.Path, c, err)
			}
			if seen[p.Path] {
				t.Fatalf("path %q returned twice", p.Path)
			}
			seen[p.Path] = true
		}
		// Writing the pins back in sha256sum form must parse to the same pins.
		var b strings.Builder
		for _, p := range pins {
			if strings.ContainsAny(p.Path, "\\\n\r") {
				r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)
				b.WriteString(`\` + p.SHA256 + "  " + r.Replace(p.Path) + "\n")
			} else {
				b.WriteString(p.SHA256 + "  " + p.Path + "\n")
			}
		}
		again, err := ParseList(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(again, pins) {
			t.Fatalf("round trip: %q != %q", again, pins)
		}
	})
}
