package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testredis"
)

// testRegistry is a function registry and its blobs in the test Redis, under a cluster name
// of the test's own, removed when it ends.
func testRegistry(t *testing.T) (*RedisFunctions, *RedisBlobs, *goredis.Client, string) {
	t.Helper()
	client := testredis.Client(t, "functions-test")
	name := testCluster(t)
	fs, err := NewRedisFunctions(client, name)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := NewRedisBlobs(client, name, 1000) // small chunks: a blob of several
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, RedisPrefix(name)+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	return fs, bs, client, name
}

// blobFile writes content to a file and returns its path and sha256.
func blobFile(t *testing.T, content []byte) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(content)
	return path, hex.EncodeToString(s[:])
}

// deployTo reserves a version of name and commits it with the blob of content.
func deployTo(t *testing.T, fs *RedisFunctions, bs *RedisBlobs, name string, content []byte, ifVersion int) (int, []string, error) {
	t.Helper()
	ctx := context.Background()
	path, sum := blobFile(t, content)
	if err := bs.Put(ctx, sum, path); err != nil {
		t.Fatal(err)
	}
	n, err := fs.Next(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := fs.Commit(ctx, Entry{Name: name, Version: n, File: "fn.yaml", Manifest: "name: " + name,
		SHA256: sum, Size: int64(len(content)), DeployedAt: time.Now(), Node: "test"}, ifVersion, 3)
	return n, gone, err
}

// TestRedisFunctionsVersions: concurrent deploys get distinct numbers and none is lost; the
// last commit is current; --if-version refuses a stale version; numbers are never reused,
// also after a delete; entries decode back.
func TestRedisFunctionsVersions(t *testing.T) {
	fs, bs, _, _ := testRegistry(t)
	ctx := context.Background()
	changes := fs.Watch(ctx)
	if c := <-changes; !c.Resync {
		t.Fatalf("the first change is %+v, want a resync", c)
	}

	const writers = 8
	var wg sync.WaitGroup
	nums := make([]int, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _, err := deployTo(t, fs, bs, "hello", []byte{byte(i)}, 0)
			if err != nil {
				t.Error(err)
			}
			nums[i] = n
		}()
	}
	wg.Wait()
	slices.Sort(nums)
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("versions %v, want 1..%d each once", nums, writers)
		}
	}
	st, err := fs.Function(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Versions) != 3 || st.Current == 0 || !slices.Contains(st.Versions, st.Current) {
		t.Fatalf("state %+v: want 3 kept versions holding the current one", st)
	}

	// --if-version.
	_, _, err = deployTo(t, fs, bs, "hello", []byte("x"), st.Current+100)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Current != st.Current {
		t.Fatalf("commit with a stale if-version: %v, want a conflict at %d", err, st.Current)
	}
	if _, _, err = deployTo(t, fs, bs, "hello", []byte("x"), -1); !errors.As(err, &ce) {
		t.Fatalf("commit of a deployed function if none: %v, want a conflict", err)
	}
	n, _, err := deployTo(t, fs, bs, "hello", []byte("x"), st.Current)
	if err != nil {
		t.Fatal(err)
	}
	e, err := fs.Entry(ctx, "hello", n)
	if err != nil || e.Version != n || e.Name != "hello" || e.Schema != 1 || e.Node != "test" {
		t.Fatalf("entry %+v, %v", e, err)
	}

	// Rollback with the current version as read; a stale one is refused.
	prev := st.Versions[len(st.Versions)-1]
	if err := fs.SetCurrent(ctx, "hello", prev, n-1); !errors.As(err, &ce) {
		t.Fatalf("set current with a stale expectation: %v", err)
	}
	if err := fs.SetCurrent(ctx, "hello", prev, n); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetCurrent(ctx, "hello", 1, prev); !errors.Is(err, ErrGone) {
		t.Fatalf("set current to a trimmed version: %v, want ErrGone", err)
	}

	// Delete, then deploy again: a new number.
	if _, found, err := fs.Delete(ctx, "hello"); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if _, found, _ := fs.Delete(ctx, "hello"); found {
		t.Fatal("a second delete found the function")
	}
	snap, err := fs.Snapshot(ctx)
	if err != nil || len(snap.Current) != 0 || snap.Epoch == "" {
		t.Fatalf("snapshot after the delete: %+v %v", snap, err)
	}
	again, _, err := deployTo(t, fs, bs, "hello", []byte("y"), -1)
	if err != nil || again != n+1 {
		t.Fatalf("after the delete, version %d (%v); want %d", again, err, n+1)
	}
	snap, _ = fs.Snapshot(ctx)
	if snap.Current["hello"].Version != again {
		t.Fatalf("snapshot %+v", snap)
	}

	// Every change was announced.
	seen := map[string]bool{}
	testDeadline := time.After(5 * time.Second)
	for !seen["deleted"] || !seen["changed"] {
		select {
		case c := <-changes:
			if c.Name == "hello" && c.Deleted {
				seen["deleted"] = true
			} else if c.Name == "hello" {
				seen["changed"] = true
			}
		case <-testDeadline:
			t.Fatalf("changes seen: %v", seen)
		}
	}
}

// TestRedisFunctionsBadEntry: an entry that does not decode is reported in the snapshot, the
// others are read.
func TestRedisFunctionsBadEntry(t *testing.T) {
	fs, bs, client, name := testRegistry(t)
	ctx := context.Background()
	n, _, err := deployTo(t, fs, bs, "broken", []byte("b"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deployTo(t, fs, bs, "fine", []byte("f"), 0); err != nil {
		t.Fatal(err)
	}
	client.Set(ctx, RedisPrefix(name)+"fn:broken:v:"+itoa(n), "{not json", 0)
	snap, err := fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Current["fine"]; !ok || snap.Bad["broken"] == "" {
		t.Fatalf("snapshot %+v: want fine current and broken reported", snap)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRedisBlobs: a blob is stored in chunks and read back whole; a blob no kept version
// refers to is collected, one still referred to by another function is kept; a commit of a
// blob that is gone is refused.
func TestRedisBlobs(t *testing.T) {
	fs, bs, client, name := testRegistry(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789"), 350) // 4 chunks of 1000
	path, sum := blobFile(t, content)
	if err := bs.Put(ctx, sum, path); err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, RedisPrefix(name)+"blob:"+sum).Val(); ttl <= 0 {
		t.Fatalf("an uncommitted blob has ttl %v; want it to expire", ttl)
	}
	var got bytes.Buffer
	if err := bs.Get(ctx, sum, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("get: %v, %d bytes back of %d", err, got.Len(), len(content))
	}
	// Two functions share the blob; "a" gets 3 more versions (keep is 3), dropping it.
	for _, fn := range []string{"a", "b"} {
		n, _ := fs.Next(ctx, fn)
		if _, err := fs.Commit(ctx, Entry{Name: fn, Version: n, SHA256: sum, DeployedAt: time.Now()}, 0, 3); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := client.PTTL(ctx, RedisPrefix(name)+"blob:"+sum).Val(); ttl != -1 {
		t.Fatalf("a committed blob has ttl %v; want none", ttl)
	}
	var unref []string
	for i := range 3 {
		_, gone, err := deployTo(t, fs, bs, "a", []byte{'a', byte(i)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		unref = append(unref, gone...)
	}
	if len(unref) != 0 {
		t.Fatalf("unreferenced %v while b still refers to the blob", unref)
	}
	gone, found, err := fs.Delete(ctx, "b")
	if err != nil || !found || !slices.Equal(gone, []string{sum}) {
		t.Fatalf("delete b: %v %v %v; want %s unreferenced", gone, found, err, sum)
	}
	if err := bs.Collect(ctx, sum); err != nil {
		t.Fatal(err)
	}
	if ok, _ := bs.Has(ctx, sum); ok {
		t.Fatal("the blob no version refers to is still stored")
	}
	if err := bs.Get(ctx, sum, &got); !errors.Is(err, ErrNoBlob) {
		t.Fatalf("get of a collected blob: %v", err)
	}
	n, _ := fs.Next(ctx, "c")
	if _, err := fs.Commit(ctx, Entry{Name: "c", Version: n, SHA256: sum}, 0, 3); !errors.Is(err, ErrBlobMissing) {
		t.Fatalf("commit of a collected blob: %v, want ErrBlobMissing", err)
	}
	// A blob still referred to is not collected.
	st, _ := fs.Function(ctx, "a")
	e, _ := fs.Entry(ctx, "a", st.Current)
	if err := bs.Collect(ctx, e.SHA256); err != nil {
		t.Fatal(err)
	}
	if ok, _ := bs.Has(ctx, e.SHA256); !ok {
		t.Fatal("a referenced blob was collected")
	}
}

// TestRedisBlobsFollowAnUpload: a Get of a blob being stored reads its chunks as they land and
// ends with the last one; one of an upload that stops fails.
func TestRedisBlobsFollowAnUpload(t *testing.T) {
	_, bs, client, name := testRegistry(t)
	ctx := context.Background()
	key := RedisPrefix(name) + "blob:" + strings.Repeat("ab", 32)
	tmp := key + ":upload:test"
	client.Set(ctx, key+":uploading", tmp, time.Minute)
	client.HSet(ctx, tmp, "0", "first ")
	got := make(chan string, 1)
	errc := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		w := &signalWriter{first: first}
		errc <- bs.Get(ctx, strings.Repeat("ab", 32), w)
		got <- w.String()
	}()
	// The second chunk lands only once the reader has the first: it follows the upload.
	select {
	case <-first:
	case err := <-errc:
		t.Fatalf("Get ended before the upload: %v", err)
	}
	client.HSet(ctx, tmp, "1", "second", "size", 12, "chunks", 2)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "first second" {
		t.Fatalf("read %q", s)
	}

	// An upload given up after a chunk: the reader fails rather than waiting.
	tmp2 := key + ":upload:test2"
	client.Set(ctx, key+":uploading", tmp2, time.Minute)
	client.HSet(ctx, tmp2, "0", "first ")
	go func() { errc <- bs.Get(ctx, strings.Repeat("ab", 32), io.Discard) }()
	client.Del(ctx, tmp2)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNoBlob) {
			t.Fatalf("Get of a stopped upload: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get of a stopped upload did not end")
	}
}

// signalWriter closes first at its first write.
type signalWriter struct {
	bytes.Buffer
	first chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if w.Len() == 0 {
		close(w.first)
	}
	return w.Buffer.Write(p)
}
