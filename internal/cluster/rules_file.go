package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// FileRules keeps a node's topic rules in a folder (DATA_DIR/topics without --redis), so that
// they survive a restart: v-N.json is version N's RulesEntry, current the current version's
// number and seq the last number given out. Writes go to a temporary file renamed into
// place.
type FileRules struct {
	dir string
	mu  sync.Mutex
}

var _ RulesStore = (*FileRules)(nil)

// NewFileRules keeps the topic rules in dir, made at the first commit.
func NewFileRules(dir string) *FileRules { return &FileRules{dir: dir} }

func (s *FileRules) readInt(name string) (int, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("topic rules: %s: %w", filepath.Join(s.dir, name), err)
	}
	return n, nil
}

func (s *FileRules) write(name string, data []byte) error {
	tmp, err := os.CreateTemp(s.dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// versions are the kept version numbers, ascending.
func (s *FileRules) versions() ([]int, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), "v-")
		if num, ok2 := strings.CutSuffix(num, ".json"); ok && ok2 {
			if n, err := strconv.Atoi(num); err == nil {
				vs = append(vs, n)
			}
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// Commit implements RulesStore.
func (s *FileRules) Commit(_ context.Context, e RulesEntry, ifVersion, keep int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.readInt("current")
	if err != nil {
		return 0, err
	}
	if (ifVersion == -1 && cur != 0) || (ifVersion > 0 && cur != ifVersion) {
		return 0, &ConflictError{Current: cur}
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return 0, err
	}
	seq, err := s.readInt("seq")
	if err != nil {
		return 0, err
	}
	n := seq + 1
	e.Version = n
	data, err := EncodeRules(e)
	if err != nil {
		return 0, err
	}
	if err := s.write("seq", []byte(strconv.Itoa(n))); err != nil {
		return 0, err
	}
	if err := s.write(fmt.Sprintf("v-%d.json", n), data); err != nil {
		return 0, err
	}
	if err := s.write("current", []byte(strconv.Itoa(n))); err != nil {
		return 0, err
	}
	if keep < 1 {
		keep = DefaultKeep
	}
	vs, err := s.versions()
	if err != nil {
		return n, nil
	}
	for i := 0; i < len(vs)-keep; i++ {
		if vs[i] != n {
			os.Remove(filepath.Join(s.dir, fmt.Sprintf("v-%d.json", vs[i])))
		}
	}
	return n, nil
}

// SetCurrent implements RulesStore.
func (s *FileRules) SetCurrent(_ context.Context, n, expect int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.readInt("current")
	if err != nil {
		return err
	}
	if cur != expect {
		return &ConflictError{Current: cur}
	}
	if _, err := os.Stat(filepath.Join(s.dir, fmt.Sprintf("v-%d.json", n))); err != nil {
		return fmt.Errorf("topic rules v%d: %w", n, ErrGone)
	}
	return s.write("current", []byte(strconv.Itoa(n)))
}

// State implements RulesStore.
func (s *FileRules) State(context.Context) (RulesState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.readInt("current")
	if err != nil {
		return RulesState{}, err
	}
	vs, err := s.versions()
	return RulesState{Current: cur, Versions: vs}, err
}

// Entry implements RulesStore.
func (s *FileRules) Entry(_ context.Context, n int) (RulesEntry, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("v-%d.json", n)))
	if errors.Is(err, os.ErrNotExist) {
		return RulesEntry{}, fmt.Errorf("topic rules v%d: %w", n, ErrGone)
	}
	if err != nil {
		return RulesEntry{}, err
	}
	return DecodeRules(n, data)
}

// Watch implements RulesStore: this node alone changes the rules.
func (s *FileRules) Watch(context.Context) <-chan struct{} { return nil }
