package runtime

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// storeBinary writes a fake plugin binary and returns its path and sum (NewSum).
func storeBinary(t *testing.T, content string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "handler-src")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	h := NewSum()
	h.Write([]byte(content))
	return path, SumHex(h)
}

func newTestStore(t *testing.T) (*store, string) {
	t.Helper()
	data := t.TempDir()
	s, err := newStore(data)
	if err != nil {
		t.Fatal(err)
	}
	return s, data
}

func storeWantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func TestStoreSaveLoad(t *testing.T) {
	s, data := newTestStore(t)
	bin, sum := storeBinary(t, "#!/bin/sh\necho plugin v1\n")
	source := []byte("name: orders\nruntime: go\n")

	before := time.Now().UTC()
	path, gotSum, err := s.save("orders", 1, "orders.yaml", source, bin, "")
	if err != nil {
		t.Fatal(err)
	}
	if gotSum != sum {
		t.Errorf("save sum = %s, want %s", gotSum, sum)
	}
	if want := filepath.Join(data, "functions", "orders", "v1", "handler"); path != want {
		t.Errorf("binary path = %s, want %s", path, want)
	}
	if stored, err := os.ReadFile(path); err != nil || string(stored) != "#!/bin/sh\necho plugin v1\n" {
		t.Errorf("stored binary = %q, %v", stored, err)
	}

	meta, src, loadedPath, err := s.load("orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(src) != string(source) {
		t.Errorf("manifest source = %q, want %q", src, source)
	}
	if loadedPath != path {
		t.Errorf("load path = %s, want %s", loadedPath, path)
	}
	if meta.Version != 1 || meta.File != "orders.yaml" || meta.Sum != sum {
		t.Errorf("meta = %+v", meta)
	}
	if meta.DeployedAt.Before(before.Add(-time.Second)) || meta.DeployedAt.Location() != time.UTC {
		t.Errorf("meta.DeployedAt = %v, want about now, UTC", meta.DeployedAt)
	}

	if _, _, _, err := s.load("orders", 2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("load of a missing version: err = %v, want fs.ErrNotExist", err)
	}
	if _, _, _, err := s.load("nobody", 1); err == nil {
		t.Error("load of a missing function: no error")
	}
}

func TestStoreSaveFailsCleanly(t *testing.T) {
	s, _ := newTestStore(t)
	if _, _, err := s.save("orders", 1, "orders.yaml", []byte("x"), filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Fatal("save of a missing binary: no error")
	}
	if vs := s.versions("orders"); len(vs) != 0 {
		t.Errorf("versions after a failed save = %v, want none: the half-written version is removed", vs)
	}
}

func TestStoreFileModes(t *testing.T) {
	s, data := newTestStore(t)
	bin, _ := storeBinary(t, "binary")
	if _, _, err := s.save("orders", 3, "orders.yaml", []byte("name: orders\n"), bin, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.setCurrent("orders", 3); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(data, "functions")
	storeWantMode(t, root, 0o700)
	storeWantMode(t, filepath.Join(root, "orders"), 0o700)
	storeWantMode(t, filepath.Join(root, "orders", "v3"), 0o700)
	storeWantMode(t, filepath.Join(root, "orders", "v3", "handler"), 0o700)
	storeWantMode(t, filepath.Join(root, "orders", "v3", "manifest.yaml"), 0o600)
	storeWantMode(t, filepath.Join(root, "orders", "v3", "meta.json"), 0o600)
	storeWantMode(t, filepath.Join(root, "orders", "current"), 0o600)

	// No temporary files are left behind.
	matches, _ := filepath.Glob(filepath.Join(root, "orders", "*", "*.tmp"))
	more, _ := filepath.Glob(filepath.Join(root, "orders", "*.tmp"))
	if len(matches)+len(more) != 0 {
		t.Errorf("temporary files left: %v %v", matches, more)
	}
}

func TestStoreCurrentAndVersions(t *testing.T) {
	s, _ := newTestStore(t)
	bin, _ := storeBinary(t, "binary")
	if got := s.current("orders"); got != 0 {
		t.Errorf("current of an unknown function = %d, want 0", got)
	}
	if got := s.versions("orders"); len(got) != 0 {
		t.Errorf("versions of an unknown function = %v, want none", got)
	}
	// Saved out of order, and with numbers that sort differently as strings.
	for _, n := range []int{2, 10, 1, 9} {
		if _, _, err := s.save("orders", n, "orders.yaml", nil, bin, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.setCurrent("orders", 10); err != nil {
		t.Fatal(err)
	}
	if got, want := s.versions("orders"), []int{1, 2, 9, 10}; !slices.Equal(got, want) {
		t.Errorf("versions = %v, want %v", got, want)
	}
	if got := s.current("orders"); got != 10 {
		t.Errorf("current = %d, want 10", got)
	}
	if err := s.setCurrent("orders", 2); err != nil {
		t.Fatal(err)
	}
	if got := s.current("orders"); got != 2 {
		t.Errorf("current after rollback = %d, want 2", got)
	}

	// A function with versions but no current one is not listed.
	if _, _, err := s.save("draft", 1, "draft.yaml", nil, bin, ""); err != nil {
		t.Fatal(err)
	}
	if got := s.names(); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("names = %v, want [orders]", got)
	}
}

func TestStorePrune(t *testing.T) {
	cases := []struct {
		name    string
		saved   int
		current int
		want    []int
	}{
		{"under the limit", 5, 5, []int{1, 2, 3, 4, 5}},
		{"at the limit", keepVersions, keepVersions, storeSeq(1, keepVersions)},
		{"over the limit", keepVersions + 3, keepVersions + 3, storeSeq(4, keepVersions+3)},
		{"current is old", keepVersions + 3, 2, append([]int{2}, storeSeq(4, keepVersions+3)...)},
		{"current is the oldest", keepVersions + 3, 1, append([]int{1}, storeSeq(4, keepVersions+3)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			bin, _ := storeBinary(t, "binary")
			for n := 1; n <= tc.saved; n++ {
				if _, _, err := s.save("orders", n, "orders.yaml", nil, bin, ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.setCurrent("orders", tc.current); err != nil {
				t.Fatal(err)
			}
			s.prune("orders")
			if got := s.versions("orders"); !slices.Equal(got, tc.want) {
				t.Errorf("versions after prune = %v, want %v", got, tc.want)
			}
			if _, _, _, err := s.load("orders", tc.current); err != nil {
				t.Errorf("current version %d not loadable after prune: %v", tc.current, err)
			}
		})
	}
}

func storeSeq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestStoreRemove(t *testing.T) {
	s, data := newTestStore(t)
	bin, _ := storeBinary(t, "binary")
	for _, name := range []string{"orders", "billing"} {
		if _, _, err := s.save(name, 1, name+".yaml", nil, bin, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.setCurrent(name, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.remove("orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "functions", "orders")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("orders folder after remove: %v, want gone", err)
	}
	if s.current("orders") != 0 || len(s.versions("orders")) != 0 {
		t.Error("orders still has versions after remove")
	}
	if got := s.names(); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("names = %v, want [billing]", got)
	}
	if err := s.remove("never-deployed"); err != nil {
		t.Errorf("remove of an unknown function: %v, want nil", err)
	}
}

func TestCopyFileChecksum(t *testing.T) {
	for _, size := range []int{0, 1, 32 << 10, 1<<20 + 3} {
		content := make([]byte, size)
		for i := range content {
			content[i] = byte(i*7 + i>>8)
		}
		src := filepath.Join(t.TempDir(), "src")
		if err := os.WriteFile(src, content, 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "dst")
		sum, err := copyFile(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		h := NewSum()
		h.Write(content)
		if want := SumHex(h); sum != want {
			t.Errorf("size %d: copyFile sum = %s, want %s", size, sum, want)
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != string(content) {
			t.Errorf("size %d: copy differs from the source (err %v)", size, err)
		}
		storeWantMode(t, dst, 0o700)
		if _, err := os.Stat(dst + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("size %d: temporary file left: %v", size, err)
		}
	}
	if _, err := copyFile(filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "dst")); err == nil {
		t.Error("copyFile of a missing source: no error")
	}
}

func TestStoreMetaIsJSON(t *testing.T) {
	s, data := newTestStore(t)
	bin, sum := storeBinary(t, "binary")
	if _, _, err := s.save("orders", 4, "o.yaml", nil, bin, ""); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(data, "functions", "orders", "v4", "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["version"] != float64(4) || m["file"] != "o.yaml" || m["sum"] != sum || m["deployedAt"] == nil {
		t.Errorf("meta.json = %s", raw)
	}
}

func TestSaveMovesAStagedBinary(t *testing.T) {
	s, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(staged, []byte("plugin bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := NewSum()
	h.Write([]byte("plugin bytes"))
	want := SumHex(h)
	path, sum, err := s.save("orders", 1, "orders.yaml", nil, staged, want)
	if err != nil || sum != want {
		t.Fatalf("save = %s, %v; want sum %s", sum, err, want)
	}
	if _, err := os.Stat(staged); !os.IsNotExist(err) {
		t.Fatalf("the staged file is still there: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("stored binary: %v, %v", fi, err)
	}
}

func TestStoreRefusesEscapingNames(t *testing.T) {
	s, data := newTestStore(t)
	bin, _ := storeBinary(t, "binary")
	outside := filepath.Join(filepath.Dir(data), "outside-marker")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", ".", "..", "../outside-marker", "../../x", "a/b", `a\b`, "/etc", "x\x00y"} {
		if _, _, err := s.save(name, 1, "f.yaml", nil, bin, ""); !errors.Is(err, errBadName) {
			t.Errorf("save(%q): %v, want errBadName", name, err)
		}
		if err := s.remove(name); !errors.Is(err, errBadName) {
			t.Errorf("remove(%q): %v, want errBadName", name, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("the file next to the data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "functions")); err != nil {
		t.Errorf("the store's folder: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(data, "functions"))
	if len(entries) != 0 {
		t.Errorf("refused saves left %d entries", len(entries))
	}
}

// fileSHA256 is what a manifest's sha256 is checked against.
func TestFileSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got, err := fileSHA256(path); err != nil || got != want {
		t.Fatalf("fileSHA256 = %s, %v; want %s", got, err, want)
	}
	if _, err := fileSHA256(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("fileSHA256 of a missing file: no error")
	}
}
