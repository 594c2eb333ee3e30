package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadPathsGoodFolder(t *testing.T) {
	set, err := LoadPaths("testdata/good")
	if err != nil {
		t.Fatalf("LoadPaths:\n%v", err)
	}
	var names []string
	for _, fn := range set.Functions {
		names = append(names, fn.Name)
	}
	// defaults.yaml, multi.yaml, orders.yaml, schedule.yaml, in name order.
	want := []string{"hello", "worker", "alpha", "beta", "create-order", "nightly-report"}
	if len(names) != len(want) {
		t.Fatalf("functions %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("functions %v, want %v", names, want)
		}
	}
	if len(set.Topics) != 3 {
		t.Errorf("got %d topic rules, want 3", len(set.Topics))
	}
}

func TestLoadPathsFilesAndFolders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("fns/b.yml", "name: b\nbuild: .\n")
	write("fns/a.yaml", "name: a\nbuild: .\n")
	write("fns/readme.md", "name: a\n")
	write("fns/.draft.yaml", "name: a\n")
	write("fns/deeper/c.yaml", "name: a\n")
	extra := write("extra.manifest", "name: c\nbuild: ./c\n")

	set, err := LoadPaths(filepath.Join(dir, "fns"), extra)
	if err != nil {
		t.Fatalf("LoadPaths:\n%v", err)
	}
	if len(set.Functions) != 3 || set.Functions[0].Name != "a" || set.Functions[1].Name != "b" || set.Functions[2].Name != "c" {
		t.Fatalf("got functions %+v", set.Functions)
	}
	if got, want := set.Functions[2].Build, filepath.Join(dir, "c"); got != want {
		t.Errorf("Build = %q, want %q", got, want)
	}

	missing := filepath.Join(dir, "nope.yaml")
	_, err = LoadPaths(missing, filepath.Join(dir, "fns"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("LoadPaths with a missing file = %v, want one error", err)
	}
	if got, want := list[0].Error(), missing+": stat: no such file or directory"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestLoadPathsNothing(t *testing.T) {
	set, err := LoadPaths()
	if err != nil || set == nil || len(set.Functions) != 0 {
		t.Errorf("LoadPaths() = %v, %v; want an empty Set", set, err)
	}
	set, err = LoadPaths(t.TempDir())
	if err != nil || set == nil || len(set.Functions) != 0 {
		t.Errorf("LoadPaths(empty folder) = %v, %v; want an empty Set", set, err)
	}
}
