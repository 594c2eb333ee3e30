package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgefn/edgefn/runtime"
)

// cacheAge is how old a cached binary no version uses must be before it is removed: one that
// is being deployed is young.
const cacheAge = 10 * time.Minute

// ErrSumMismatch is a binary fetched from the registry whose content is not its sha256.
var ErrSumMismatch = errors.New("the registry's binary does not match its sha256")

// cached is the cache's file of sum.
func (s *Sync) cached(sum string) string { return filepath.Join(s.cfg.CacheDir, sum) }

// fetch returns the cached binary of sum, fetching it from the blobs first when the cache
// lacks it; a fetch of the same binary under way is waited for rather than made twice. A
// fetched binary whose sha256 is not sum is refused and not kept.
func (s *Sync) fetch(ctx context.Context, sum string) (string, error) {
	if len(sum) != 64 {
		return "", fmt.Errorf("bad sha256 %q", sum)
	}
	path := s.cached(sum)
	for {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		s.mu.Lock()
		wait, busy := s.inflight[sum]
		if !busy {
			s.inflight[sum] = make(chan struct{})
		}
		s.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	defer func() {
		s.mu.Lock()
		close(s.inflight[sum])
		delete(s.inflight, sum)
		s.mu.Unlock()
	}()
	return s.download(ctx, sum, path)
}

// download fetches the blob sum into the cache file path.
func (s *Sync) download(ctx context.Context, sum, path string) (string, error) {
	if err := os.MkdirAll(s.cfg.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("binary cache: %w", err)
	}
	tmp := path + ".fetch-" + randomHex()
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		return "", fmt.Errorf("binary cache: %w", err)
	}
	defer os.Remove(tmp)
	h := runtime.NewSum()
	err = s.cfg.Blobs.Get(ctx, sum, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetch binary: %w", err)
	}
	if got := runtime.SumHex(h); got != sum {
		return "", fmt.Errorf("%w: sha256 %s, the version names %s", ErrSumMismatch, got, sum)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("binary cache: %w", err)
	}
	s.cfg.Host.Verified(path, sum)
	return path, nil
}

// keep puts the binary at binary into the cache and returns its path there and its sum. A
// known sum (of an upload) lets it be moved rather than read again.
func (s *Sync) keep(binary, sum string) (string, string, error) {
	if err := os.MkdirAll(s.cfg.CacheDir, 0o700); err != nil {
		return "", "", fmt.Errorf("binary cache: %w", err)
	}
	if sum != "" {
		path := s.cached(sum)
		if _, err := os.Stat(path); err == nil {
			return path, sum, nil
		}
		if err := os.Rename(binary, path); err == nil {
			if err := os.Chmod(path, 0o700); err != nil {
				return "", "", fmt.Errorf("binary cache: %w", err)
			}
			s.cfg.Host.Verified(path, sum)
			return path, sum, nil
		}
	}
	in, err := os.Open(binary)
	if err != nil {
		return "", "", fmt.Errorf("plugin binary: %w", err)
	}
	defer in.Close()
	tmp := filepath.Join(s.cfg.CacheDir, "copy-"+randomHex())
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		return "", "", fmt.Errorf("binary cache: %w", err)
	}
	defer os.Remove(tmp)
	h := runtime.NewSum()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", fmt.Errorf("binary cache: %w", err)
	}
	sum = runtime.SumHex(h)
	path := s.cached(sum)
	if err := os.Rename(tmp, path); err != nil {
		return "", "", fmt.Errorf("binary cache: %w", err)
	}
	s.cfg.Host.Verified(path, sum)
	return path, sum, nil
}

// sweepCache removes the cached binaries that neither a current version of snap nor a
// running version uses, once they are cacheAge old.
func (s *Sync) sweepCache(snap Snapshot) {
	used := map[string]bool{}
	for _, e := range snap.Current {
		used[e.SHA256] = true
	}
	for _, r := range s.cfg.Host.Running() {
		used[r.Sum] = true
	}
	entries, err := os.ReadDir(s.cfg.CacheDir)
	if err != nil {
		return
	}
	for _, d := range entries {
		if used[d.Name()] {
			continue
		}
		if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > cacheAge {
			os.Remove(filepath.Join(s.cfg.CacheDir, d.Name()))
		}
	}
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
