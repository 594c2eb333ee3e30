// Package keepfile creates the small files a node generates once and keeps for good under its
// data dir (its admin token, its node id): written whole, readable by the owner only, and
// never replaced, even by another process creating the same file at the same moment.
package keepfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Create writes content to a new file at path, mode 0600, creating its folder (mode 0700)
// when missing. The file is written whole under a temporary name, then linked to path, which
// fails when path exists: created is then false, the file at path is left as it is, and the
// caller reads it (another process created it meanwhile, or earlier).
func Create(path, content string) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}
