package runtime

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/runtime/sandbox"
)

// keepVersions is how many versions of a function the store keeps for rollback.
const keepVersions = 10

// store keeps deployed versions under DIR/functions/NAME/vN (the manifest, the binary and a
// meta.json) and the current version in DIR/functions/NAME/current. Names are validated by the
// manifest package ([a-z][a-z0-9-]*), so they cannot escape the folder; save and remove check
// it again (a name that is not one plain path element is refused) so that no caller can make
// them write or delete outside it. Files are private to the gateway's user: 0600, binaries
// 0700, folders 0700.
type store struct {
	dir string
}

// storedVersion is meta.json.
type storedVersion struct {
	Version    int       `json:"version"`
	File       string    `json:"file"`
	Sum        string    `json:"sum"` // see NewSum
	DeployedAt time.Time `json:"deployedAt"`
}

func newStore(dataDir string) (*store, error) {
	dir := filepath.Join(dataDir, "functions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &store{dir: dir}, nil
}

// errBadName refuses a function name that is not one plain path element.
var errBadName = errors.New("not a plain name")

// checkName refuses names that would leave the store's folder or name it: "", ".", "..",
// anything with a separator, and anything not a single local path element.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`+"\x00") || !filepath.IsLocal(name) {
		return fmt.Errorf("function name %q: %w", name, errBadName)
	}
	return nil
}

func (s *store) versionDir(name string, n int) string {
	return filepath.Join(s.dir, name, "v"+strconv.Itoa(n))
}

// save stores the binary and writes the manifest of version n; it returns the stored binary's
// path and sum (see NewSum). The binary is copied, or moved when staged is its known sum.
func (s *store) save(name string, n int, file string, source []byte, binary, staged string) (path, sum string, err error) {
	if err := checkName(name); err != nil {
		return "", "", fmt.Errorf("store: %w", err)
	}
	dir := s.versionDir(name, n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("store %s v%d: %w", name, n, err)
	}
	path = filepath.Join(dir, "handler")
	if staged != "" && os.Rename(binary, path) == nil {
		sum = staged
		err = os.Chmod(path, 0o700)
	} else {
		sum, err = copyFile(binary, path)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("store %s v%d: %w", name, n, err)
	}
	meta, _ := json.Marshal(storedVersion{Version: n, File: file, Sum: sum, DeployedAt: time.Now().UTC()})
	if err := writeFile(filepath.Join(dir, "manifest.yaml"), source); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	if err := writeFile(filepath.Join(dir, "meta.json"), meta); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return path, sum, nil
}

// load returns version n's metadata, manifest source and binary path.
func (s *store) load(name string, n int) (storedVersion, []byte, string, error) {
	dir := s.versionDir(name, n)
	var meta storedVersion
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err == nil {
		err = json.Unmarshal(raw, &meta)
	}
	if err != nil {
		return meta, nil, "", fmt.Errorf("load %s v%d: %w", name, n, err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		return meta, nil, "", fmt.Errorf("load %s v%d: %w", name, n, err)
	}
	binary := filepath.Join(dir, "handler")
	if len(meta.Sum) != sha256.Size*2 {
		// A version stored before sums were SHA-256 (xxHash64) is hashed once, as it is now.
		if meta.Sum, err = fileSHA256(binary); err != nil {
			return meta, nil, "", fmt.Errorf("load %s v%d: %w", name, n, err)
		}
		raw, _ := json.Marshal(meta)
		if err := writeFile(filepath.Join(dir, "meta.json"), raw); err != nil {
			return meta, nil, "", err
		}
	}
	return meta, src, binary, nil
}

// uid returns the uid of name's sandbox (docs/security.md): FirstUID for the first function
// stored, the next free one for each new name; it is kept with the function's versions.
func (s *store) uid(name string) (int, error) {
	if err := checkName(name); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(s.dir, name, "uid")
	if raw, err := os.ReadFile(path); err == nil {
		if uid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && uid >= sandbox.FirstUID {
			return uid, nil
		}
	}
	used := map[int]bool{}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if raw, err := os.ReadFile(filepath.Join(s.dir, e.Name(), "uid")); err == nil {
			if uid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
				used[uid] = true
			}
		}
	}
	uid := sandbox.FirstUID
	for used[uid] {
		uid++
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if err := writeFile(path, []byte(strconv.Itoa(uid)+"\n")); err != nil {
		return 0, err
	}
	return uid, nil
}

func (s *store) setCurrent(name string, n int) error {
	return writeFile(filepath.Join(s.dir, name, "current"), []byte(strconv.Itoa(n)+"\n"))
}

// current returns the current version of name, 0 when there is none.
func (s *store) current(name string) int {
	raw, err := os.ReadFile(filepath.Join(s.dir, name, "current"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return n
}

// versions lists the stored versions of name, ascending.
func (s *store) versions(name string) []int {
	entries, _ := os.ReadDir(filepath.Join(s.dir, name))
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "v")); err == nil && e.IsDir() && strings.HasPrefix(e.Name(), "v") {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// names lists the functions that have a current version.
func (s *store) names() []string {
	entries, _ := os.ReadDir(s.dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() && s.current(e.Name()) > 0 {
			out = append(out, e.Name())
		}
	}
	return out
}

// prune removes all but the newest keepVersions versions, never the current one.
func (s *store) prune(name string) {
	vs := s.versions(name)
	cur := s.current(name)
	for len(vs) > keepVersions {
		if vs[0] != cur {
			os.RemoveAll(s.versionDir(name, vs[0]))
		}
		vs = vs[1:]
	}
}

func (s *store) remove(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return os.RemoveAll(filepath.Join(s.dir, name))
}

// copyFile copies src to dst (mode 0700) and returns the sum of what it wrote (see NewSum).
func copyFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		return "", err
	}
	h := NewSum()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return SumHex(h), nil
}

// writeFile writes a private file atomically.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
