package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// mirror is a loopback HTTP server holding files by path. It records every
// request's path and Range header.
type mirror struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	log      []string
	served   int64 // body bytes written
	noRanges bool  // ignore Range headers (always 200)
	// cut, when > 0, makes the server send that many bytes of a fresh
	// download and then drop the connection.
	cut int
	// stall, when non-nil, makes the server send half the file, signal
	// stall and then hang until the client goes away.
	stall chan struct{}
}

func newMirror(t *testing.T, files map[string][]byte) *mirror {
	m := &mirror{files: files}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.log = append(m.log, r.URL.Path+" range="+r.Header.Get("Range"))
	body, ok := m.files[r.URL.Path]
	noRanges, cut, stall := m.noRanges, m.cut, m.stall
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case stall != nil:
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		m.count(len(body) / 2)
		w.(http.Flusher).Flush()
		close(stall)
		<-r.Context().Done()
		return
	case cut > 0 && r.Header.Get("Range") == "":
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:cut])
		m.count(cut)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	case noRanges:
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
		m.count(len(body))
		return
	}
	cw := &countingWriter{ResponseWriter: w, m: m}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(body))
}

func (m *mirror) count(n int) {
	m.mu.Lock()
	m.served += int64(n)
	m.mu.Unlock()
}

func (m *mirror) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.log...)
}

// countingWriter counts the body bytes of successful (2xx) responses.
type countingWriter struct {
	http.ResponseWriter
	m      *mirror
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	if c.status == 0 || c.status/100 == 2 {
		c.m.count(n)
	}
	return n, err
}

// fetchFixture returns an archive of the demo release and a source that
// pins it, with URLs on the given mirrors (path /d/demo-1.0.tar.gz).
func fetchFixture(t *testing.T) ([]byte, chain.Source) {
	archive := gz(t, makeTar(t, releaseEntries("demo-1.0", false)))
	src := demoSource()
	src.ArchiveSHA256 = sum(archive)
	return archive, src
}

func urls(ms ...*mirror) []string {
	var us []string
	for _, m := range ms {
		us = append(us, m.URL+"/d/demo-1.0.tar.gz")
	}
	return us
}

// assertOnly checks that distfiles holds exactly the named files.
func assertOnly(t *testing.T, cache string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(cache, "distfiles"))
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("distfiles holds %v, want %v", got, names)
	}
}

func TestFetchMirrorOrder(t *testing.T) {
	archive, src := fetchFixture(t)
	empty := newMirror(t, map[string][]byte{})                                     // 404
	bad := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": []byte("not it")}) // wrong bytes
	good := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	unused := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	src.URLs = urls(empty, bad, good, unused)
	cache := t.TempDir()
	var progress bytes.Buffer
	got, err := Fetch(context.Background(), src, cache, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "distfiles", "demo-1.0.tar.gz"); got != want {
		t.Errorf("Fetch = %s, want %s", got, want)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, archive) {
		t.Error("cached archive differs from the served one")
	}
	for _, m := range []*mirror{empty, bad, good} {
		if len(m.requests()) != 1 {
			t.Errorf("mirror %s got requests %v, want one", m.URL, m.requests())
		}
	}
	if len(unused.requests()) != 0 {
		t.Errorf("mirror after the good one was asked: %v", unused.requests())
	}
	assertOnly(t, cache, "demo-1.0.tar.gz")
	out := progress.String()
	for _, want := range []string{"demo: downloading " + bad.URL, "does not match, deleted", "demo: downloaded"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress to a non-terminal has carriage returns:\n%q", out)
	}

	// A second Fetch finds it in the cache and asks nobody.
	if _, err := Fetch(context.Background(), src, cache, nil); err != nil {
		t.Fatal(err)
	}
	if len(good.requests()) != 1 {
		t.Errorf("second Fetch downloaded again: %v", good.requests())
	}
	// And Open unpacks it.
	if _, err := Open(context.Background(), src, "", cache); err != nil {
		t.Errorf("Open after Fetch: %v", err)
	}
}

func TestFetchAllMirrorsBad(t *testing.T) {
	archive, src := fetchFixture(t)
	bad := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": append(archive[:len(archive):len(archive)], 0)})
	src.URLs = append(urls(bad), "ftp://example.invalid/demo-1.0.tar.gz")
	cache := t.TempDir()
	_, err := Fetch(context.Background(), src, cache, nil)
	if !errors.Is(err, verify.ErrMismatch) {
		t.Fatalf("Fetch = %v, want a mismatch", err)
	}
	for _, want := range []string{"no mirror gave a matching copy", bad.URL + "/d/demo-1.0.tar.gz: source demo: demo-1.0.tar.gz: sha256 is",
		`ftp://example.invalid/demo-1.0.tar.gz: unsupported URL scheme "ftp"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	assertOnly(t, cache) // never keeps a file that does not match
}

func TestFetchResume(t *testing.T) {
	archive, src := fetchFixture(t)
	half := len(archive) / 2
	tests := []struct {
		name      string
		prefix    []byte // what the .part holds before Fetch
		noRanges  bool
		wantRange []string // Range headers the mirror sees, in order
		wantSent  int64    // body bytes the mirror sends
	}{
		{"resume", archive[:half], false, []string{fmt.Sprintf("bytes=%d-", half)}, int64(len(archive) - half)},
		{"server ignores Range", archive[:half], true, []string{fmt.Sprintf("bytes=%d-", half)}, int64(len(archive))},
		{"bad prefix: start over", bytes.Repeat([]byte{'x'}, half), false,
			[]string{fmt.Sprintf("bytes=%d-", half), ""}, int64(len(archive) - half + len(archive))},
		{"complete part (416)", archive, false, []string{fmt.Sprintf("bytes=%d-", len(archive))}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
			m.noRanges = tt.noRanges
			src := src
			src.URLs = urls(m)
			cache := t.TempDir()
			put(t, ArchivePath(src, cache)+".part", tt.prefix)
			got, err := Fetch(context.Background(), src, cache, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(got); !bytes.Equal(b, archive) {
				t.Error("cached archive differs from the served one")
			}
			var ranges []string
			for _, r := range m.requests() {
				ranges = append(ranges, strings.TrimPrefix(r, "/d/demo-1.0.tar.gz range="))
			}
			if strings.Join(ranges, "|") != strings.Join(tt.wantRange, "|") {
				t.Errorf("Range headers %q, want %q", ranges, tt.wantRange)
			}
			if m.served != tt.wantSent {
				t.Errorf("mirror sent %d bytes, want %d", m.served, tt.wantSent)
			}
			assertOnly(t, cache, "demo-1.0.tar.gz")
		})
	}
}

func TestFetchInterrupted(t *testing.T) {
	archive, src := fetchFixture(t)
	flaky := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	flaky.cut = len(archive) / 3
	src.URLs = urls(flaky)
	cache := t.TempDir()
	_, err := Fetch(context.Background(), src, cache, nil)
	if err == nil || !strings.Contains(err.Error(), "download interrupted after") {
		t.Fatalf("Fetch from a mirror that drops the connection = %v", err)
	}
	assertOnly(t, cache, "demo-1.0.tar.gz.part")
	if fi, _ := os.Stat(ArchivePath(src, cache) + ".part"); fi.Size() != int64(flaky.cut) {
		t.Errorf(".part holds %d bytes, want the %d received", fi.Size(), flaky.cut)
	}
	// The next Fetch resumes where it stopped.
	good := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	src.URLs = urls(good)
	if _, err := Fetch(context.Background(), src, cache, nil); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/d/demo-1.0.tar.gz range=bytes=%d-", flaky.cut); strings.Join(good.requests(), "|") != want {
		t.Errorf("requests %v, want %s", good.requests(), want)
	}
	assertOnly(t, cache, "demo-1.0.tar.gz")
}

func TestFetchCancel(t *testing.T) {
	archive, src := fetchFixture(t)
	m := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	m.stall = make(chan struct{})
	next := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	src.URLs = urls(m, next)
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.stall
		cancel()
	}()
	_, err := Fetch(ctx, src, cache, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Fetch = %v", err)
	}
	if len(next.requests()) != 0 {
		t.Errorf("cancelled Fetch went on to the next mirror: %v", next.requests())
	}
	assertOnly(t, cache) // no .part left behind
}

// TestFetchWithoutArchivePin checks that a source with only per-file pins
// has each download checked by unpacking it.
func TestFetchWithoutArchivePin(t *testing.T) {
	archive, src := fetchFixture(t)
	src.ArchiveSHA256 = ""
	tampered := gz(t, makeTar(t, append(releaseEntries("demo-1.0", false), entry{name: "demo-1.0/x86/M0_x86.hex2", body: "evil\n"})))
	bad := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": tampered})
	good := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	src.URLs = urls(bad, good)
	cache := t.TempDir()
	if _, err := Fetch(context.Background(), src, cache, nil); err != nil {
		t.Fatal(err)
	}
	if len(bad.requests()) != 1 || len(good.requests()) != 1 {
		t.Errorf("requests: bad %v, good %v", bad.requests(), good.requests())
	}
	assertOnly(t, cache, "demo-1.0.tar.gz")
	tree, err := Open(context.Background(), src, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(tree.Path("x86/M0_x86.hex2")); string(b) != release["x86/M0_x86.hex2"] {
		t.Errorf("unpacked M0 = %q", b)
	}
}

func TestFetchLocalAndNoURL(t *testing.T) {
	src := demoSource()
	src.URLs = nil
	if _, err := Fetch(context.Background(), src, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "--source demo=PATH") {
		t.Errorf("Fetch without URLs = %v", err)
	}
	src.Local = os.DirFS(t.TempDir())
	if p, err := Fetch(context.Background(), src, t.TempDir(), nil); p != "" || err != nil {
		t.Errorf("Fetch of a local source = %q, %v; want nothing to do", p, err)
	}
}

func TestImport(t *testing.T) {
	archive, src := fetchFixture(t)
	src.URLs = []string{"https://a.invalid/demo-1.0.tar.gz", "https://b.invalid/pub/Release_1.0.tar.gz"}
	tests := []struct {
		name    string
		files   map[string][]byte
		want    string // error substring; "" means imported
		archive bool   // whether the archive pin is kept
	}{
		{"by archive name", map[string][]byte{"demo-1.0.tar.gz": archive}, "", true},
		{"by a mirror's name", map[string][]byte{"Release_1.0.tar.gz": archive}, "", true},
		{"per-file pins only", map[string][]byte{"demo-1.0.tar.gz": archive}, "", false},
		{"by SHA-256 under another name", map[string][]byte{"other.tar.gz": []byte("other"), "sub/renamed.tgz": archive}, "", true},
		{"by SHA-256 when the named file differs", map[string][]byte{"demo-1.0.tar.gz": archive[1:], "renamed.tgz": archive}, "", true},
		{"absent", map[string][]byte{"other.tar.gz": []byte("other")}, "has no file named demo-1.0.tar.gz or Release_1.0.tar.gz, nor any with sha256 " + sum(archive), true},
		{"absent, per-file pins only", map[string][]byte{"renamed.tgz": archive}, "has no file named demo-1.0.tar.gz or Release_1.0.tar.gz", false},
		{"wrong bytes", map[string][]byte{"demo-1.0.tar.gz": archive[1:]}, "demo-1.0.tar.gz: sha256 is " + sum(archive[1:]), true},
		{"tampered file, per-file pins", map[string][]byte{"demo-1.0.tar.gz": gz(t, makeTar(t,
			append(releaseEntries("demo-1.0", false), entry{name: "demo-1.0/x86/hex0_x86.hex0", body: "evil\n"})))},
			"x86/hex0_x86.hex0: sha256 is " + sums("evil\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := src
			if !tt.archive {
				src.ArchiveSHA256 = ""
			}
			from := t.TempDir()
			for n, b := range tt.files {
				put(t, filepath.Join(from, n), b)
			}
			cache := t.TempDir()
			got, err := Import(src, from, cache)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Import = %v, want an error containing %q", err, tt.want)
				}
				assertOnly(t, cache)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(got); !bytes.Equal(b, archive) {
				t.Error("imported archive differs")
			}
			assertOnly(t, cache, "demo-1.0.tar.gz")
			if _, err := Open(context.Background(), src, "", cache); err != nil {
				t.Errorf("Open after Import: %v", err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		start, size, ok := parseContentRange(tt.in)
		if start != tt.start || size != tt.size || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tt.in, start, size, ok)
		}
	}
}

// TestFetchBoundedBySize checks that a pinned archive size bounds a
// download: a server that announces or sends more is cut off, and nothing
// of it is kept.
func TestFetchBoundedBySize(t *testing.T) {
	archive, src := fetchFixture(t)
	big := append(append([]byte(nil), archive...), make([]byte, 1<<20)...)
	for _, tt := range []struct {
		name     string
		noRanges bool
		want     string
	}{
		{"announced", true, "the server announces " + fmt.Sprint(len(big)) + " bytes; the archive's pinned size is " + fmt.Sprint(len(archive)) + " bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": big})
			m.noRanges = tt.noRanges
			s := src
			s.URLs, s.ArchiveSize = urls(m), int64(len(archive))
			cache := t.TempDir()
			_, err := Fetch(context.Background(), s, cache, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Fetch = %v, want %q", err, tt.want)
			}
			assertOnly(t, cache)
		})
	}
	// A server that says nothing of the size but sends too much.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // chunked: no Content-Length
		for i := 0; i < 64; i++ {
			w.Write(big[:1<<14])
		}
	}))
	t.Cleanup(srv.Close)
	s := src
	s.URLs, s.ArchiveSize = []string{srv.URL + "/demo-1.0.tar.gz"}, int64(len(archive))
	cache := t.TempDir()
	_, err := Fetch(context.Background(), s, cache, nil)
	if err == nil || !strings.Contains(err.Error(), "the server sent more than that; the archive's pinned size is") {
		t.Fatalf("Fetch from an endless server = %v", err)
	}
	assertOnly(t, cache)

	// Without a pinned size, MaxUnsizedFile bounds the download: a server
	// that announces more is refused before a byte is written.
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(MaxUnsizedFile+1))
		w.Write(big[:1<<10])
	}))
	t.Cleanup(huge.Close)
	s = src
	s.URLs, s.ArchiveSize = []string{huge.URL + "/demo-1.0.tar.gz"}, 0
	cache = t.TempDir()
	_, err = Fetch(context.Background(), s, cache, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the server announces %d bytes; an archive without a pinned size may have %d bytes at most", MaxUnsizedFile+1, MaxUnsizedFile)) {
		t.Fatalf("Fetch of an unsized archive from a server announcing more than MaxUnsizedFile = %v", err)
	}
	assertOnly(t, cache)
}

// TestImportUnsizedBound: where the chain pins an archive's SHA-256 but
// not its size, a file larger than MaxUnsizedFile is not the archive and
// is never read, whether found by name or met in the search by SHA-256.
func TestImportUnsizedBound(t *testing.T) {
	archive, src := fetchFixture(t)
	src.URLs = []string{"https://a.invalid/demo-1.0.tar.gz"}
	huge := func(p string) {
		t.Helper()
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(MaxUnsizedFile + 1); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
	}

	from := t.TempDir()
	huge(filepath.Join(from, "big.tar.gz"))
	put(t, filepath.Join(from, "renamed.tgz"), archive)
	d := NewDistfiles(from)
	if _, err := d.Import(context.Background(), src, t.TempDir()); err != nil {
		t.Fatalf("Import with the archive renamed beside a huge file: %v", err)
	}
	if _, read := d.sums[filepath.Join(from, "big.tar.gz")]; read {
		t.Errorf("the huge file was hashed in the search by SHA-256")
	}

	from = t.TempDir()
	huge(filepath.Join(from, "demo-1.0.tar.gz"))
	d = NewDistfiles(from)
	cache := t.TempDir()
	_, err := d.Import(context.Background(), src, cache)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes, more than an archive without a pinned size may have", MaxUnsizedFile+1)) {
		t.Fatalf("Import of a huge file at the archive's name: %v; expected it refused for its size", err)
	}
	if len(d.sums) > 0 {
		t.Errorf("files hashed: %v; expected none", d.sums)
	}
	assertOnly(t, cache)
}
