package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// testManifest is testfn as the function t, with VERSION=v.
func testManifest(t *testing.T, bin string, v int) *manifest.Function {
	t.Helper()
	set, err := manifest.Parse("t.yaml", fmt.Appendf(nil, "name: t\nhandler: %s\nsandbox: off\nenv: {VERSION: \"%d\"}\ntriggers:\n  - http: {method: GET, path: /t}\n", bin, v))
	if err != nil {
		t.Fatal(err)
	}
	return set.Functions[0]
}

// TestChangeIfVersion: a deploy or rollback whose IfVersion is not the current version is
// refused with a 409 and changes nothing; one whose IfVersion is current goes through.
func TestChangeIfVersion(t *testing.T) {
	bin := buildTestfn(t)
	h, err := NewHost(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	conflict := func(err error, want string) {
		t.Helper()
		var re *Error
		if !errors.Is(err, ErrVersionConflict) || !errors.As(err, &re) || re.Status != 409 || re.Message != want {
			t.Fatalf("got %v, want a 409 %q", err, want)
		}
	}
	_, err = h.DeployWith(ctx, testManifest(t, bin, 1), "", "", ChangeOptions{IfVersion: 3})
	conflict(err, `function "t" is not deployed, not at version 3`)
	if res, err := h.DeployWith(ctx, testManifest(t, bin, 1), "", "", ChangeOptions{IfVersion: NotDeployed}); err != nil || res.Version != 1 {
		t.Fatalf("first deploy: %+v %v", res, err)
	}
	_, err = h.DeployWith(ctx, testManifest(t, bin, 2), "", "", ChangeOptions{IfVersion: NotDeployed})
	conflict(err, `function "t" is deployed (version 1)`)
	_, err = h.DeployWith(ctx, testManifest(t, bin, 2), "", "", ChangeOptions{IfVersion: 2})
	conflict(err, `function "t" is at version 1, not 2`)
	if res, err := h.DeployWith(ctx, testManifest(t, bin, 2), "", "", ChangeOptions{IfVersion: 1}); err != nil || res.Version != 2 {
		t.Fatalf("deploy if 1: %+v %v", res, err)
	}
	_, err = h.RollbackWith(ctx, "t", ChangeOptions{IfVersion: 1})
	conflict(err, `function "t" is at version 2, not 1`)
	if r := h.Running()["t"]; r.Version != 2 {
		t.Fatalf("a refused rollback changed the version to %d", r.Version)
	}
	if res, err := h.RollbackWith(ctx, "t", ChangeOptions{IfVersion: 2}); err != nil || res.Version != 1 {
		t.Fatalf("rollback if 2: %+v %v", res, err)
	}
}

// TestApplyCommit: Apply starts a version and makes it current only when its commit
// succeeds; a failed commit leaves the running version; Stop stops it without the store.
func TestApplyCommit(t *testing.T) {
	bin := buildTestfn(t)
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	if _, err := h.Apply(ctx, testManifest(t, bin, 1), 4, bin, sum, nil); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	if _, err := h.Apply(ctx, testManifest(t, bin, 2), 5, bin, sum, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("apply with a failing commit: %v", err)
	}
	if r := h.Running()["t"]; r.Version != 4 {
		t.Fatalf("after a failed commit version %d runs, want 4", r.Version)
	}
	res, err := h.Apply(ctx, testManifest(t, bin, 1), 4, bin, sum, nil)
	if err != nil || !res.Unchanged {
		t.Fatalf("apply of the running version: %+v %v", res, err)
	}
	if err := h.Stop(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(ctx, "t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a second stop: %v", err)
	}
}
