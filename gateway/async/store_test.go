package async

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

func TestMemoryStore(t *testing.T) {
	runStoreTests(t, func(t *testing.T) Store {
		s := NewMemoryStore()
		t.Cleanup(s.Close)
		return s
	})
}

func TestRedisStore(t *testing.T) {
	c := redisTestClient(t)
	runStoreTests(t, func(t *testing.T) Store {
		return NewRedisStore(c, redisTestPrefix(t, c))
	})
}

// shortTTL is the TTL of the expiry tests.
const shortTTL = 300 * time.Millisecond

// runStoreTests checks the guarantees of Store against a backend. newStore returns an empty
// store of its own, cleaned up when the test ends.
func runStoreTests(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"GetUnknown", testGetUnknown},
		{"CompleteTwice", testCompleteTwice},
		{"CompleteUnknown", testCompleteUnknown},
		{"PendingExpires", testPendingExpires},
		{"DoneExpires", testDoneExpires},
		{"CompleteRenewsTTL", testCompleteRenewsTTL},
		{"Idempotency", testIdempotency},
		{"IdempotencyKeyExpires", testIdempotencyKeyExpires},
		{"ConcurrentCreates", testConcurrentCreates},
		{"KeyBoundToCall", testKeyBoundToCall},
		{"ConcurrentCallsOneKey", testConcurrentCallsOneKey},
		{"Pending", testPending},
		{"Copies", testCopies},
		{"Invalid", testInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStore(t))
		})
	}
}

// testCall is the call of the test requests' idempotency keys.
var testCall = Call{Function: "f", Method: "POST", Path: "/f", BodySHA256: strings.Repeat("ab", 32)}

// idem returns the idempotency key value of scope, bound to testCall.
func idem(scope, value string) Key {
	return Key{Scope: scope, Value: value, Call: testCall}
}

// storeCreate stores a pending request with a fresh ID and returns it.
func storeCreate(t *testing.T, s Store, scope, key string, ttl time.Duration) string {
	t.Helper()
	id, created, err := s.Create(testkit.Context(t, 15*time.Second), &Record{ID: testID(t), Function: "f", Created: time.Now()}, idem(scope, key), ttl)
	if err != nil || !created {
		t.Fatalf("create: %q, %v, %v", id, created, err)
	}
	return id
}

func storeGet(t *testing.T, s Store, id string) *Record {
	t.Helper()
	rec, err := s.Get(testkit.Context(t, 15*time.Second), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return rec
}

func storeComplete(t *testing.T, s Store, id string, status int, headers map[string]string, body []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Complete(testkit.Context(t, 15*time.Second), id, status, headers, body, ttl); err != nil {
		t.Fatalf("complete %s: %v", id, err)
	}
}

func storeGone(s Store, id string) func() bool {
	return func() bool {
		_, err := s.Get(context.Background(), id)
		return errors.Is(err, ErrNotFound)
	}
}

func within(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want).Abs(); d > time.Second {
		t.Errorf("%s = %v, want about %v", what, got, want)
	}
}

func binaryBody() []byte {
	b := make([]byte, 0, 512)
	for i := range 512 {
		b = append(b, byte(i))
	}
	return b
}

func testRoundTrip(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	in := &Record{ID: testID(t), Function: "resize", Owner: "alice", State: Pending, Created: time.Now()}
	id, created, err := s.Create(ctx, in, idem("sub:alice", ""), time.Minute)
	if err != nil || !created || id != in.ID {
		t.Fatalf("create = %q, %v, %v; want %q, true, nil", id, created, err, in.ID)
	}
	rec := storeGet(t, s, id)
	if rec.ID != in.ID || rec.Function != "resize" || rec.Owner != "alice" || rec.OwnerIP != "" || rec.State != Pending {
		t.Errorf("pending record = %+v", rec)
	}
	if rec.Status != 0 || rec.Headers != nil || rec.Body != nil || !rec.Completed.IsZero() {
		t.Errorf("pending record has a reply: %+v", rec)
	}
	within(t, "created", rec.Created, in.Created)

	headers := map[string]string{"Content-Type": "application/octet-stream", "X-Odd": "a\x00b, \xff", "X-Empty": ""}
	body := binaryBody()
	completed := time.Now()
	storeComplete(t, s, id, 201, headers, body, time.Minute)
	rec = storeGet(t, s, id)
	if rec.ID != in.ID || rec.Function != "resize" || rec.Owner != "alice" || rec.State != Done || rec.Status != 201 {
		t.Errorf("done record = %+v", rec)
	}
	if !maps.Equal(rec.Headers, headers) {
		t.Errorf("headers = %q, want %q", rec.Headers, headers)
	}
	if !bytes.Equal(rec.Body, body) {
		t.Errorf("body = %q, want %q", rec.Body, body)
	}
	within(t, "created", rec.Created, in.Created)
	within(t, "completed", rec.Completed, completed)

	// A request owned by a client IP keeps it, pending and done.
	byIP := &Record{ID: testID(t), Function: "resize", OwnerIP: "2001:db8::7"}
	if _, _, err := s.Create(ctx, byIP, idem("token-ip:2001:db8::7", "k"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if rec := storeGet(t, s, byIP.ID); rec.OwnerIP != "2001:db8::7" || rec.Owner != "" {
		t.Errorf("pending record owned by an IP = %+v", rec)
	}
	storeComplete(t, s, byIP.ID, 200, nil, nil, time.Minute)
	if rec := storeGet(t, s, byIP.ID); rec.OwnerIP != "2001:db8::7" || rec.State != Done {
		t.Errorf("done record owned by an IP = %+v", rec)
	}
}

func testGetUnknown(t *testing.T, s Store) {
	if _, err := s.Get(testkit.Context(t, 15*time.Second), testID(t)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown: %v, want ErrNotFound", err)
	}
}

func testCompleteTwice(t *testing.T, s Store) {
	id := storeCreate(t, s, "", "", time.Minute)
	storeComplete(t, s, id, 200, map[string]string{"X-Run": "1"}, []byte("first"), time.Minute)
	err := s.Complete(testkit.Context(t, 15*time.Second), id, 500, map[string]string{"X-Run": "2"}, []byte("second"), time.Minute)
	if !errors.Is(err, ErrAlreadyDone) {
		t.Fatalf("second complete: %v, want ErrAlreadyDone", err)
	}
	rec := storeGet(t, s, id)
	if rec.State != Done || rec.Status != 200 || rec.Headers["X-Run"] != "1" || len(rec.Headers) != 1 || string(rec.Body) != "first" {
		t.Fatalf("after a second complete: %+v, want the first reply", rec)
	}
}

func testCompleteUnknown(t *testing.T, s Store) {
	err := s.Complete(testkit.Context(t, 15*time.Second), testID(t), 200, nil, []byte("x"), time.Minute)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete unknown: %v, want ErrNotFound", err)
	}
}

func testPendingExpires(t *testing.T, s Store) {
	id := storeCreate(t, s, "", "", shortTTL)
	testkit.Eventually(t, 5*time.Second, "the pending record to expire", storeGone(s, id))
	err := s.Complete(testkit.Context(t, 15*time.Second), id, 200, nil, nil, time.Minute)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete expired: %v, want ErrNotFound", err)
	}
}

func testDoneExpires(t *testing.T, s Store) {
	id := storeCreate(t, s, "", "", time.Minute)
	storeComplete(t, s, id, 200, nil, []byte("ok"), shortTTL)
	testkit.Eventually(t, 5*time.Second, "the done record to expire", storeGone(s, id))
}

// testCompleteRenewsTTL checks that a reply is kept for its TTL from the completion, not
// from the creation.
func testCompleteRenewsTTL(t *testing.T, s Store) {
	const ttl = time.Second
	answered := storeCreate(t, s, "", "", ttl)
	unanswered := storeCreate(t, s, "", "", ttl)
	storeComplete(t, s, answered, 200, nil, []byte("ok"), time.Minute)
	testkit.Eventually(t, 5*time.Second, "the unanswered record to expire", storeGone(s, unanswered))
	if rec := storeGet(t, s, answered); rec.State != Done || string(rec.Body) != "ok" {
		t.Fatalf("answered record = %+v", rec)
	}
}

func testIdempotency(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	first := storeCreate(t, s, "sub:alice", "key-1", time.Minute)

	again := &Record{ID: testID(t), Function: "other", Created: time.Now()}
	id, created, err := s.Create(ctx, again, idem("sub:alice", "key-1"), time.Minute)
	if err != nil || created || id != first {
		t.Fatalf("same caller, same key: %q, %v, %v; want %q, false, nil", id, created, err, first)
	}
	if _, err := s.Get(ctx, again.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the duplicate was stored: get %s: %v", again.ID, err)
	}
	if rec := storeGet(t, s, first); rec.Function != "f" {
		t.Fatalf("the first record changed: %+v", rec)
	}

	// The key is the caller's: another caller's same key is another request.
	other := storeCreate(t, s, "sub:bob", "key-1", time.Minute)
	if other == first {
		t.Fatal("another caller's same key returned the first caller's request")
	}
	// Prefixes do not collide either.
	if id := storeCreate(t, s, "sub:alice\x00key", "-1", time.Minute); id == first {
		t.Fatal("caller and key joined differently returned the same request")
	}

	// No key, no deduplication.
	a := storeCreate(t, s, "sub:alice", "", time.Minute)
	b := storeCreate(t, s, "sub:alice", "", time.Minute)
	if a == b {
		t.Fatal("two requests without a key got the same ID")
	}

	// A long key is fine.
	long := strings.Repeat("k", 10_000)
	l1 := storeCreate(t, s, "sub:alice", long, time.Minute)
	l2, created, err := s.Create(ctx, &Record{ID: testID(t), Function: "f"}, idem("sub:alice", long), time.Minute)
	if err != nil || created || l2 != l1 {
		t.Fatalf("same long key: %q, %v, %v; want %q, false, nil", l2, created, err, l1)
	}
}

func testIdempotencyKeyExpires(t *testing.T, s Store) {
	first := storeCreate(t, s, "sub:alice", "key-1", shortTTL)
	var id, fresh string
	testkit.Eventually(t, 5*time.Second, "the idempotency key to expire", func() bool {
		fresh = testID(t)
		var created bool
		var err error
		id, created, err = s.Create(testkit.Context(t, 15*time.Second), &Record{ID: fresh, Function: "f"}, idem("sub:alice", "key-1"), time.Minute)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if !created && id != first {
			t.Fatalf("create with the key = %q, not created; want %q", id, first)
		}
		return created
	})
	if id != fresh {
		t.Fatalf("create after the key expired = %q, want the new %q", id, fresh)
	}
	if rec := storeGet(t, s, id); rec.State != Pending {
		t.Fatalf("new record = %+v", rec)
	}
}

func testConcurrentCreates(t *testing.T, s Store) {
	const n = 20
	ctx := testkit.Context(t, 15*time.Second)
	type result struct {
		tried, id string
		created   bool
		err       error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		results[i].tried = testID(t)
		wg.Go(func() {
			r := &results[i]
			<-start
			r.id, r.created, r.err = s.Create(ctx, &Record{ID: r.tried, Function: "f"}, idem("sub:alice", "same"), time.Minute)
		})
	}
	close(start)
	wg.Wait()
	var winner string
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("create: %v", r.err)
		}
		if r.created {
			if winner != "" {
				t.Fatalf("created twice: %s and %s", winner, r.id)
			}
			winner = r.id
		}
	}
	if winner == "" {
		t.Fatal("none created")
	}
	for _, r := range results {
		if r.id != winner {
			t.Errorf("create returned %s, want the winner %s", r.id, winner)
		}
		if r.tried != winner {
			if _, err := s.Get(ctx, r.tried); !errors.Is(err, ErrNotFound) {
				t.Errorf("a loser was stored: get %s: %v", r.tried, err)
			}
		}
	}
}

// testKeyBoundToCall checks that a key is bound to the call it was first used for: reused
// for another function, method, path or body it is refused, and nothing is stored.
func testKeyBoundToCall(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	first := storeCreate(t, s, "ip:192.0.2.7", "order-42", time.Minute)
	other := func(change func(c *Call)) Call {
		c := testCall
		change(&c)
		return c
	}
	for _, tt := range []struct {
		call    Call
		differs []string
	}{
		{other(func(c *Call) { c.BodySHA256 = strings.Repeat("cd", 32) }), []string{"body"}},
		{other(func(c *Call) { c.Path = "/f?x=1" }), []string{"path"}},
		{other(func(c *Call) { c.Method = "PUT" }), []string{"method"}},
		{other(func(c *Call) { c.Function = "g" }), []string{"function"}},
		{Call{Function: "g", Method: "PUT", Path: "/g", BodySHA256: ""}, []string{"function", "method", "path", "body"}},
	} {
		tried := testID(t)
		id, created, err := s.Create(ctx, &Record{ID: tried, Function: tt.call.Function}, Key{Scope: "ip:192.0.2.7", Value: "order-42", Call: tt.call}, time.Minute)
		var kerr *KeyReusedError
		if !errors.Is(err, ErrKeyReused) || !errors.As(err, &kerr) || created || id != "" {
			t.Fatalf("key reused for %+v: %q, %v, %v; want a KeyReusedError", tt.call, id, created, err)
		}
		if kerr.First != testCall || kerr.Again != tt.call || !slices.Equal(kerr.Differs(), tt.differs) {
			t.Errorf("key reused for %+v: %+v differs in %q; want %q", tt.call, kerr, kerr.Differs(), tt.differs)
		}
		if _, err := s.Get(ctx, tried); !errors.Is(err, ErrNotFound) {
			t.Errorf("the refused request was stored: get %s: %v", tried, err)
		}
	}
	// The key still points to the first request, for the same call.
	id, created, err := s.Create(ctx, &Record{ID: testID(t), Function: "f"}, idem("ip:192.0.2.7", "order-42"), time.Minute)
	if err != nil || created || id != first {
		t.Fatalf("same key, same call after the refusals: %q, %v, %v; want %q, false, nil", id, created, err, first)
	}
	// Another scope's same key, for another call, is another key.
	if id := storeCreate(t, s, "ip:192.0.2.8", "order-42", time.Minute); id == first {
		t.Fatal("another scope's key returned the first request")
	}
}

// testConcurrentCallsOneKey checks that the check of a key's call and the key's write are one
// step: of concurrent creates with one key and two calls, one is stored, those with its call
// get its ID, and those with the other call are refused.
func testConcurrentCallsOneKey(t *testing.T, s Store) {
	const n = 20
	ctx := testkit.Context(t, 15*time.Second)
	calls := [2]Call{testCall, {Function: "f", Method: "POST", Path: "/f", BodySHA256: strings.Repeat("cd", 32)}}
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r := &results[i]
			r.id, r.created, r.err = s.Create(ctx, &Record{ID: testID(t), Function: "f"}, Key{Scope: "sub:alice", Value: "k", Call: calls[i%2]}, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, r := range results {
		if r.created {
			if winner >= 0 {
				t.Fatalf("created twice: %s and %s", results[winner].id, r.id)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("none created: %+v", results)
	}
	for i, r := range results {
		switch {
		case i%2 == winner%2 && (r.err != nil || r.id != results[winner].id):
			t.Errorf("create with the winner's call: %q, %v; want %q", r.id, r.err, results[winner].id)
		case i%2 != winner%2 && (!errors.Is(r.err, ErrKeyReused) || r.id != ""):
			t.Errorf("create with the other call: %q, %v; want ErrKeyReused", r.id, r.err)
		}
	}
}

func testPending(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	pending := func() int64 {
		n, err := s.Pending(ctx)
		if err != nil {
			t.Fatalf("pending: %v", err)
		}
		return n
	}
	if n := pending(); n != 0 {
		t.Fatalf("pending of an empty store = %d", n)
	}
	expiring := storeCreate(t, s, "", "", shortTTL)
	testkit.Eventually(t, 5*time.Second, "the short-lived record to expire", storeGone(s, expiring))
	ids := []string{storeCreate(t, s, "", "", time.Minute), storeCreate(t, s, "", "", time.Minute), storeCreate(t, s, "", "k", time.Minute)}
	storeComplete(t, s, ids[0], 200, nil, nil, time.Minute)
	if n := pending(); n != 2 {
		t.Fatalf("pending = %d, want 2 (one done, one expired)", n)
	}
	storeComplete(t, s, ids[1], 200, nil, nil, time.Minute)
	storeComplete(t, s, ids[2], 200, nil, nil, time.Minute)
	if n := pending(); n != 0 {
		t.Fatalf("pending = %d, want 0 (all done)", n)
	}
}

// testCopies checks that callers cannot change what is stored through what they passed in
// or got out.
func testCopies(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	in := &Record{ID: testID(t), Function: "f", Created: time.Now()}
	if _, _, err := s.Create(ctx, in, Key{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	in.Function = "changed"
	headers := map[string]string{"X-A": "1"}
	body := []byte("body")
	storeComplete(t, s, in.ID, 200, headers, body, time.Minute)
	headers["X-A"], headers["X-B"] = "2", "2"
	body[0] = 'B'

	got := storeGet(t, s, in.ID)
	got.Headers["X-A"], got.Headers["X-C"] = "3", "3"
	got.Body[0] = 'X'
	got.Status = 500

	rec := storeGet(t, s, in.ID)
	if rec.Function != "f" || rec.Status != 200 || !maps.Equal(rec.Headers, map[string]string{"X-A": "1"}) || string(rec.Body) != "body" {
		t.Fatalf("stored record changed through a caller's copy: %+v", rec)
	}
}

func testInvalid(t *testing.T, s Store) {
	ctx := testkit.Context(t, 15*time.Second)
	if _, _, err := s.Create(ctx, &Record{Function: "f"}, Key{}, time.Minute); err == nil {
		t.Error("create without an id: no error")
	}
	if _, _, err := s.Create(ctx, &Record{ID: testID(t), Function: "f"}, Key{}, 0); err == nil {
		t.Error("create with ttl 0: no error")
	}
	id := storeCreate(t, s, "", "", time.Minute)
	if _, _, err := s.Create(ctx, &Record{ID: id, Function: "other"}, Key{}, time.Minute); err == nil {
		t.Error("create of a stored id: no error")
	}
	if rec := storeGet(t, s, id); rec.Function != "f" {
		t.Errorf("create of a stored id replaced it: %+v", rec)
	}
	if err := s.Complete(ctx, id, 200, nil, nil, 0); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("complete with ttl 0: %v, want an error", err)
	}
}

// TestMemoryStoreSweeps checks that expired entries leave the maps, so that memory stays
// bounded, without a Get or Pending call to find them.
func TestMemoryStoreSweeps(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	for i := range 100 {
		storeCreate(t, s, "sub:alice", "key-"+string(rune('a'+i%26))+strings.Repeat("x", i), 50*time.Millisecond)
	}
	size := func() (records, keys int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.records), len(s.keys)
	}
	if r, k := size(); r != 100 || k != 100 {
		t.Fatalf("after 100 creates: %d records, %d keys", r, k)
	}
	kept := 0
	testkit.Eventually(t, 5*time.Second, "the writes to sweep the expired entries", func() bool {
		storeCreate(t, s, "", "", time.Minute) // a write, which sweeps now and then
		kept++
		r, k := size()
		return r == kept && k == 0
	})
}

func TestMemoryStoreClosed(t *testing.T) {
	s := NewMemoryStore()
	id := storeCreate(t, s, "", "", time.Minute)
	s.Close()
	s.Close()
	ctx := testkit.Context(t, 15*time.Second)
	if _, _, err := s.Create(ctx, &Record{ID: testID(t)}, Key{}, time.Minute); err == nil {
		t.Error("create after close: no error")
	}
	if _, err := s.Get(ctx, id); err == nil {
		t.Error("get after close: no error")
	}
	if err := s.Complete(ctx, id, 200, nil, nil, time.Minute); err == nil {
		t.Error("complete after close: no error")
	}
	if _, err := s.Pending(ctx); err == nil {
		t.Error("pending after close: no error")
	}
}

// TestRedisStoreKeys checks the key layout: every key under the prefix with a TTL, and
// idempotency keys of a fixed length however long the caller's key.
func TestRedisStoreKeys(t *testing.T) {
	c := redisTestClient(t)
	prefix := redisTestPrefix(t, c)
	s := NewRedisStore(c, prefix)
	ctx := testkit.Context(t, 15*time.Second)
	id := storeCreate(t, s, "sub:alice", strings.Repeat("k", 10_000), time.Minute)
	storeComplete(t, s, storeCreate(t, s, "", "", time.Minute), 200, nil, nil, time.Minute)

	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	var idem, recs, pending int
	for _, k := range keys {
		switch rest := strings.TrimPrefix(k, prefix); {
		case strings.HasPrefix(rest, "idem:"):
			idem++
			if len(rest) != len("idem:")+64 {
				t.Errorf("idempotency key %q is not a sha256", k)
			}
			got, err := c.HGetAll(ctx, k).Result()
			want := map[string]string{"id": id, "function": testCall.Function, "method": testCall.Method, "path": testCall.Path, "body": testCall.BodySHA256}
			if err != nil || !maps.Equal(got, want) {
				t.Errorf("idempotency key holds %q, %v; want %q", got, err, want)
			}
		case strings.HasPrefix(rest, "req:"):
			recs++
		case rest == "pending":
			pending++
			if n, err := c.ZCard(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("pending set has %d, %v; want 1", n, err)
			}
		default:
			t.Errorf("unexpected key %q", k)
		}
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %q: ttl %v, %v; want one", k, ttl, err)
		}
	}
	if idem != 1 || recs != 2 || pending != 1 {
		t.Fatalf("keys %q: want 1 idempotency key, 2 records, the pending set", keys)
	}
	if _, err := NewRedisStore(c, "").Get(ctx, testID(t)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown with the default prefix: %v", err)
	}
}
