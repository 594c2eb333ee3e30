package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgefn/edgefn/internal/keepfile"
)

// adminTokenFile is the file under --data-dir that holds the admin token `serve` generates
// when none is given, and that the client commands read when --token is not given
// (docs/cli.md).
const adminTokenFile = "admin-token"

// readSecretFile reads a secret from the file of the flag named flag. White space around it
// (the final newline an editor or `echo` adds) is dropped; an empty file is an error.
func readSecretFile(flag, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("--%s %s: the file is empty", flag, path)
	}
	return s, nil
}

// fileSecrets reads the secrets given as files into their flags' values: --admin-token-file
// into adminToken, --jwt-secret-file into jwtSecret. A secret on the command line is readable
// by every user of the machine (ps, /proc/PID/cmdline); a file can be kept private.
func fileSecrets(o *serveOptions) error {
	for _, s := range []struct {
		flag, file string
		value      *string
	}{
		{"admin-token", o.adminTokenFile, &o.adminToken},
		{"jwt-secret", o.jwtSecretFile, &o.jwtSecret},
	} {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			return fmt.Errorf("give --%s or --%s-file, not both", s.flag, s.flag)
		}
		v, err := readSecretFile(s.flag+"-file", s.file)
		if err != nil {
			return err
		}
		*s.value = v
	}
	return nil
}

// localAdminToken returns the admin token kept in dataDir, generating it (32 random bytes,
// hex) in a new file of mode 0600 when there is none; created says whether it did. The file
// is written whole under a temporary name, then linked to its name, which fails if another
// process created it meanwhile: then that process's token is read. A restart keeps the token,
// so clients that read it once go on working.
func localAdminToken(dataDir string) (token, path string, created bool, err error) {
	path = filepath.Join(dataDir, adminTokenFile)
	if token, err = readAdminTokenFile(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return token, path, false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", path, false, err
	}
	token = hex.EncodeToString(b)
	if created, err = keepfile.Create(path, token+"\n"); err != nil || !created {
		if err != nil {
			return "", path, false, err
		}
		token, err = readAdminTokenFile(path)
		return token, path, false, err
	}
	return token, path, true, nil
}

// readAdminTokenFile reads the generated admin token file at path. A file that others than
// its owner may read no longer keeps the token secret, and is refused.
func readAdminTokenFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin token file %s: mode %04o lets others read it; want 0600 (chmod 600 %s)", path, perm, path)
	}
	return readSecretFile("data-dir", path)
}
