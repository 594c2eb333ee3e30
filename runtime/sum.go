package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
)

// A stored binary is identified by its SHA-256: a deploy of the manifest and binary of the
// current version changes nothing, and a binary is verified against it before it starts
// (docs/security.md). A manifest's `sha256:` must equal it.

// NewSum returns the hash whose SumHex identifies a binary (DeployStaged's sum).
func NewSum() hash.Hash { return sha256.New() }

// SumHex returns what h has hashed, as the store keeps it.
func SumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readSHA256(f)
}

func readSHA256(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return SumHex(h), nil
}

// ErrIntegrity is a stored binary whose content is not what was deployed: it is not started.
var ErrIntegrity = fmt.Errorf("binary changed since its deploy")

// binaries opens stored binaries to start them, verified: the content is hashed again
// whenever the file is not the one last verified (another inode, size or modification time),
// and a mismatch refuses the start. The open file is what gets executed (the sandbox execs it
// by descriptor), so what was verified is what runs.
type binaries struct {
	mu       sync.Mutex
	verified map[string]verified
}

type verified struct {
	info os.FileInfo
	sum  string
}

func newBinaries() *binaries { return &binaries{verified: make(map[string]verified)} }

// trust records that the file at path, as it is now, has sum: its writer hashed what it
// wrote. A start that finds it unchanged does not hash it again.
func (b *binaries) trust(path, sum string) {
	info, err := os.Stat(path)
	if err != nil {
		return
	}
	b.mu.Lock()
	b.verified[path] = verified{info: info, sum: sum}
	b.mu.Unlock()
}

// open returns the binary at path, whose SHA-256 must be sum.
func (b *binaries) open(path, sum string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open binary: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open binary: %w", err)
	}
	b.mu.Lock()
	last, ok := b.verified[path]
	b.mu.Unlock()
	if ok && last.sum == sum && os.SameFile(last.info, info) && last.info.Size() == info.Size() &&
		last.info.ModTime().Equal(info.ModTime()) {
		return f, nil
	}
	got, err := readSHA256(io.NewSectionReader(f, 0, info.Size()))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("verify binary: %w", err)
	}
	if got != sum {
		f.Close()
		return nil, fmt.Errorf("%w: %s has sha256 %s, deployed %s; not started", ErrIntegrity, path, got, sum)
	}
	b.mu.Lock()
	b.verified[path] = verified{info: info, sum: sum}
	b.mu.Unlock()
	return f, nil
}
