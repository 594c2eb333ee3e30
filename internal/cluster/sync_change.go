package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// DeployWith deploys m with the plugin binary at binary (sum, when not empty, is its sum from
// an upload) as the next version of the function in the registry: the binary is stored once
// under its sha256, the version starts on this node, and only then is it committed, in one
// step that checks o.IfVersion. Every node then runs it. A manifest and binary equal to the
// current version's change nothing (Unchanged).
func (s *Sync) DeployWith(ctx context.Context, m *manifest.Function, binary, sum string, o runtime.ChangeOptions) (runtime.DeployResult, error) {
	s.change.Lock()
	defer s.change.Unlock()
	defer s.touch(m.Name)
	if binary == "" {
		binary = m.Handler
	}
	path, sum, err := s.keep(binary, sum)
	if err != nil {
		return runtime.DeployResult{}, fmt.Errorf("deploy %s: %w", m.Name, err)
	}
	if m.SHA256 != "" && sum != m.SHA256 {
		return runtime.DeployResult{}, fmt.Errorf("deploy %s: binary checksum %s does not match sha256 %s", m.Name, sum, m.SHA256)
	}
	st, err := s.cfg.Store.Function(ctx, m.Name)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	if err := runtime.CheckVersion(m.Name, o.IfVersion, st.Current); err != nil {
		return runtime.DeployResult{}, err
	}
	if st.Current > 0 {
		if e, err := s.cfg.Store.Entry(ctx, m.Name, st.Current); err == nil && e.Manifest == string(m.Source) && e.SHA256 == sum {
			return s.Apply(ctx, e, m, path)
		}
	}
	n, err := s.cfg.Store.Next(ctx, m.Name)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	// The binary goes to the registry while this node starts the version, and the other
	// nodes fetch it as it lands: the commit finds it stored and them ready to start it.
	stored := make(chan error, 1)
	go func() { stored <- s.putBlob(ctx, sum, path) }()
	e := Entry{Name: m.Name, Version: n, File: m.File, Manifest: string(m.Source), SHA256: sum, Size: info.Size(),
		DeployedAt: time.Now(), DeployedBy: o.By, Node: s.cfg.NodeID}
	var gone []string
	waited := false
	defer func() {
		if !waited {
			<-stored
		}
	}()
	commit := func() error {
		waited = true
		if err := <-stored; err != nil {
			return err
		}
		gone, err = s.cfg.Store.Commit(ctx, e, o.IfVersion, s.cfg.Keep)
		if errors.Is(err, ErrBlobMissing) { // collected meanwhile: store it again
			if err = s.cfg.Blobs.Put(ctx, sum, path); err == nil {
				gone, err = s.cfg.Store.Commit(ctx, e, o.IfVersion, s.cfg.Keep)
			}
		}
		return conflict(m.Name, o.IfVersion, err)
	}
	res, err := s.cfg.Host.Apply(ctx, m, n, path, sum, commit)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	s.clearProblem(m.Name)
	s.collect(ctx, gone)
	return res, nil
}

// Apply makes this node run e, whose manifest is m and binary at path, and reports it
// Unchanged: what a deploy of the current version does.
func (s *Sync) Apply(ctx context.Context, e Entry, m *manifest.Function, path string) (runtime.DeployResult, error) {
	if _, err := s.cfg.Host.Apply(ctx, m, e.Version, path, e.SHA256, nil); err != nil {
		return runtime.DeployResult{}, err
	}
	s.clearProblem(e.Name)
	return runtime.DeployResult{Name: e.Name, Version: e.Version, Unchanged: true}, nil
}

// putBlob stores the binary at path as the blob sum unless it is stored.
func (s *Sync) putBlob(ctx context.Context, sum, path string) error {
	ok, err := s.cfg.Blobs.Has(ctx, sum)
	if err == nil && !ok {
		err = s.cfg.Blobs.Put(ctx, sum, path)
	}
	return err
}

// conflict turns a *ConflictError of the registry into the runtime's 409.
func conflict(name string, ifVersion int, err error) error {
	var ce *ConflictError
	if errors.As(err, &ce) {
		if ifVersion == 0 { // a rollback whose current version changed meanwhile
			return &runtime.Error{Status: http.StatusConflict, Code: runtime.ErrVersionConflict.Code,
				Message: fmt.Sprintf("function %q changed meanwhile: its current version is %d", name, ce.Current)}
		}
		return runtime.CheckVersion(name, ifVersion, ce.Current)
	}
	return err
}

// collect removes the blobs no kept version refers to any more.
func (s *Sync) collect(ctx context.Context, sums []string) {
	for _, sum := range sums {
		if err := s.cfg.Blobs.Collect(ctx, sum); err != nil {
			s.cfg.Logger.Warn("function registry: a blob no version uses was not removed", "sha256", sum, "error", err)
		}
	}
}

// RollbackWith makes the kept version before the current one current again, under its own
// number: it starts on this node, then the registry's current version is set, if it is still
// the one read (and o.IfVersion, when set).
func (s *Sync) RollbackWith(ctx context.Context, name string, o runtime.ChangeOptions) (runtime.DeployResult, error) {
	s.change.Lock()
	defer s.change.Unlock()
	defer s.touch(name)
	st, err := s.cfg.Store.Function(ctx, name)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	if st.Current == 0 {
		return runtime.DeployResult{}, runtime.ErrNotFound
	}
	if err := runtime.CheckVersion(name, o.IfVersion, st.Current); err != nil {
		return runtime.DeployResult{}, err
	}
	prev := 0
	for _, n := range st.Versions {
		if n < st.Current {
			prev = n
		}
	}
	if prev == 0 {
		return runtime.DeployResult{}, &runtime.Error{Status: http.StatusConflict, Code: "no_previous_version", Message: "no previous version to roll back to"}
	}
	e, err := s.cfg.Store.Entry(ctx, name, prev)
	if err != nil {
		return runtime.DeployResult{}, err
	}
	m, path, err := s.prepare(ctx, e)
	if err != nil {
		return runtime.DeployResult{}, fmt.Errorf("rollback %s to v%d: %w", name, prev, err)
	}
	commit := func() error { return conflict(name, 0, s.cfg.Store.SetCurrent(ctx, name, prev, st.Current)) }
	if _, err := s.cfg.Host.Apply(ctx, m, prev, path, e.SHA256, commit); err != nil {
		return runtime.DeployResult{}, err
	}
	s.clearProblem(name)
	return runtime.DeployResult{Name: name, Version: prev}, nil
}

// Delete removes name from the registry, and so from every node; its version numbers are not
// given out again. A function this node runs that the registry no longer holds (it lost its
// data) is deleted from every node that runs it.
func (s *Sync) Delete(ctx context.Context, name string) error {
	s.change.Lock()
	defer s.change.Unlock()
	defer s.touch(name)
	gone, found, err := s.cfg.Store.Delete(ctx, name)
	if err != nil {
		return err
	}
	stopped := s.cfg.Host.Stop(ctx, name)
	s.clearProblem(name)
	if !found && errors.Is(stopped, runtime.ErrNotFound) {
		return runtime.ErrNotFound
	}
	s.collect(ctx, gone)
	return nil
}

// Current returns name's current entry in the registry; found is false when it holds none
// (or its entry cannot be read: err says why).
func (s *Sync) Current(ctx context.Context, name string) (e Entry, found bool, err error) {
	st, err := s.cfg.Store.Function(ctx, name)
	if err != nil || st.Current == 0 {
		return Entry{}, false, err
	}
	e, err = s.cfg.Store.Entry(ctx, name, st.Current)
	return e, err == nil, err
}
