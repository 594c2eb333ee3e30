package keepfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateWritesOnceAndNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "token")
	created, err := Create(path, "first\n")
	if err != nil || !created {
		t.Fatalf("first Create: created %v, %v", created, err)
	}
	if created, err = Create(path, "second\n"); err != nil || created {
		t.Fatalf("second Create: created %v, %v; want false, nil", created, err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "first\n" {
		t.Fatalf("file holds %q (%v), want the first content", data, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "token.*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// Of processes (here goroutines) creating the file at once, exactly one does.
func TestCreateRacesHaveOneWinner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node-id")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 16 {
		wg.Go(func() {
			created, err := Create(path, string(rune('a'+i))+"\n")
			if err != nil {
				t.Error(err)
			}
			if created {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creators won, want 1", wins)
	}
}
