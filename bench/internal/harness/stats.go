package harness

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary is the median of a few repeated measurements and their range.
type Summary struct {
	Median, Min, Max float64
	// N is how many measurements there were.
	N int
}

// Format formats s as "median (lowest … highest)" with prec decimals, each signed ("+0.12")
// when signed is set.
func (s Summary) Format(prec int, signed bool) string {
	f := "%." + fmt.Sprint(prec) + "f"
	if signed {
		f = "%+." + fmt.Sprint(prec) + "f"
	}
	return fmt.Sprintf(f+" ("+f+" … "+f+")", s.Median, s.Min, s.Max)
}

// Thousands formats s as "median (lowest … highest)" rounded, with commas between thousands.
func (s Summary) Thousands() string {
	return fmt.Sprintf("%s (%s … %s)", Thousands(s.Median), Thousands(s.Min), Thousands(s.Max))
}

// Summarize summarises xs; the median of an even count is the mean of the middle two.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[n-1], N: n}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted, or 0 when it
// is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps p/100*n from rounding up past an exact rank (99.9/100*1000 is
	// 999.0000000000001 in floating point).
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Millis converts d to fractional milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
