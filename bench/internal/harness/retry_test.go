package harness

import (
	"errors"
	"testing"
)

func TestLeastDisturbed(t *testing.T) {
	o := Options{MaxOther: 0.25, Attempts: 3}
	tests := []struct {
		name      string
		others    []float64 // the share of each run, in turn
		wantBest  int       // the run kept, from 1
		wantRuns  int
		wantAgain int
	}{
		{"first undisturbed", []float64{0.1}, 1, 1, 0},
		{"second undisturbed", []float64{0.5, 0.2}, 2, 2, 1},
		{"all disturbed: least kept", []float64{0.5, 0.3, 0.4}, 2, 3, 2},
		{"ties keep the earlier", []float64{0.3, 0.3, 0.3}, 1, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			again := 0
			best, other, runs, err := LeastDisturbed(o, func(attempt int) (int, float64, error) {
				return attempt, tt.others[attempt-1], nil
			}, func(float64) error { again++; return nil })
			if err != nil || best != tt.wantBest || other != tt.others[tt.wantBest-1] || runs != tt.wantRuns || again != tt.wantAgain {
				t.Errorf("got best %d (other %v), %d runs, %d agains, %v; want best %d, %d runs, %d agains",
					best, other, runs, again, err, tt.wantBest, tt.wantRuns, tt.wantAgain)
			}
		})
	}
	boom := errors.New("boom")
	_, _, runs, err := LeastDisturbed(o, func(int) (int, float64, error) { return 0, 0.9, nil },
		func(float64) error { return boom })
	if !errors.Is(err, boom) || runs != 1 {
		t.Errorf("a failed wait: %d runs, %v", runs, err)
	}
}

func TestUndisturbed(t *testing.T) {
	clean := func(x int) bool { return x > 0 }
	tests := []struct {
		rounds   []int
		want     int
		wantNote string
	}{
		{[]int{1, 2}, 2, ""},
		{[]int{1, -2, 3}, 2, "; 2 of 3 rounds undisturbed"},
		{[]int{-1, -2}, 2, "; every round disturbed by other work, not conclusive"},
	}
	for _, tt := range tests {
		got, note := Undisturbed(tt.rounds, clean, "; ")
		if len(got) != tt.want || note != tt.wantNote {
			t.Errorf("Undisturbed(%v) = %v, %q; want %d rounds, %q", tt.rounds, got, note, tt.want, tt.wantNote)
		}
	}
}
