package harness

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Summary
	}{
		{[]float64{3, 1, 2}, Summary{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, Summary{Median: 2.5, Min: 1, Max: 4, N: 4}},
		{[]float64{7}, Summary{Median: 7, Min: 7, Max: 7, N: 1}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.in); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got := Summarize(nil); !math.IsNaN(got.Median) || got.N != 0 {
		t.Errorf("Summarize(nil) = %+v, want NaN and N 0", got)
	}
}

func TestPercentile(t *testing.T) {
	sorted := make([]time.Duration, 1000)
	for i := range sorted {
		sorted[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
		{0.01, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(sorted, tt.p); got != tt.want {
			t.Errorf("p%g = %s, want %s", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %s, want 0", got)
	}
}

func TestSummaryCells(t *testing.T) {
	s := Summary{Median: 1234.5, Min: -12.4, Max: 56789, N: 3}
	if got, want := s.Format(2, false), "1234.50 (-12.40 … 56789.00)"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if got, want := s.Format(1, true), "+1234.5 (-12.4 … +56789.0)"; got != want {
		t.Errorf("signed Format = %q, want %q", got, want)
	}
	if got, want := s.Thousands(), "1,234 (-12 … 56,789)"; got != want {
		t.Errorf("Thousands = %q, want %q", got, want)
	}
}
