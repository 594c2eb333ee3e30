package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadPaths loads manifests from files and folders. A folder contributes
// every *.yaml and *.yml file directly in it (not in subfolders, and not
// hidden files, as a shell glob would), in name order; a file is read
// whatever its name. The errors of all files are reported together, as are
// duplicate function names and conflicting routes across files. When
// anything is invalid it returns a nil Set and an [ErrorList].
func LoadPaths(paths ...string) (*Set, error) {
	set := &Set{}
	var errs ErrorList
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			errs.add(p, 0, "", "%s", pathError(err))
			continue
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				errs.add(file, 0, "", "%s", pathError(err))
				continue
			}
			s, fileErrs := parseFile(file, data)
			set.Functions = append(set.Functions, s.Functions...)
			set.Topics = append(set.Topics, s.Topics...)
			errs = append(errs, fileErrs...)
		}
	}
	errs = append(errs, checkConflicts(set.Functions)...)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// manifestFiles returns the manifest files that path stands for.
func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || strings.HasPrefix(name, ".") || ext != ".yaml" && ext != ".yml" {
			continue
		}
		files = append(files, filepath.Join(path, name))
	}
	return files, nil
}

// pathError drops the path from a file system error, since the message is
// already prefixed with it.
func pathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
