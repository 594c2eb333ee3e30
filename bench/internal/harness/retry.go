package harness

// LeastDisturbed runs a measurement up to o.Attempts times, until other processes used at most
// o.MaxOther of the machine during a run, and returns the run they disturbed least, how much
// they disturbed it and how many runs were made. run gets the attempt's number (from 1) and
// returns its result and the share of the machine other processes used meanwhile; again, when
// not nil, is called between two runs with the share of the one just made, to say so and to
// wait for a quiet machine. The rule looks only at other processes' CPU, never at the result,
// so it cannot pick flattering numbers.
func LeastDisturbed[T any](o Options, run func(attempt int) (T, float64, error), again func(other float64) error) (best T, other float64, runs int, err error) {
	other = 2 // more than any share, so that the first run is kept
	for runs = 1; ; runs++ {
		v, share, err := run(runs)
		if err != nil {
			return best, 0, runs, err
		}
		if share < other {
			best, other = v, share
		}
		if share <= o.MaxOther || runs >= o.Attempts {
			return best, other, runs, nil
		}
		if again != nil {
			if err := again(share); err != nil {
				return best, 0, runs, err
			}
		}
	}
}
