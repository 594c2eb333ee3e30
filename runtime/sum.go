package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"

	"github.com/cespare/xxhash/v2"
)

// A stored binary's sum identifies it: a deploy of the manifest and binary of the current
// version changes nothing. It is xxHash64, not a cryptographic hash, since it only tells
// uploads apart and is computed as the upload arrives, on the deploy's path (bench/README.md
// compares the two). A manifest's `sha256:`, the security check, is a SHA-256 of the stored
// file, checked at deploy and by go-plugin at every start.

// NewSum returns the hash whose SumHex identifies a binary (DeployStaged's sum).
func NewSum() hash.Hash { return xxhash.New() }

// SumHex returns what h has hashed, as the store keeps it.
func SumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
