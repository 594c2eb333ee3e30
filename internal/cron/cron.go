package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zones resolve on hosts and images without a zoneinfo database

	robfig "github.com/robfig/cron/v3"
)

// parser accepts the standard five fields and the descriptors (@hourly, @every 30s, ...).
var parser = robfig.NewParser(robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

// Schedule is a parsed expression in its zone. Its methods are safe for concurrent use.
type Schedule struct {
	expr  string
	loc   *time.Location
	every time.Duration        // for @every; 0 otherwise
	spec  *robfig.SpecSchedule // in UTC: matched against wall times, never instants
}

// Parse parses expr in the IANA zone tz ("" is UTC).
func Parse(expr, tz string) (*Schedule, error) {
	loc, err := Zone(tz)
	if err != nil {
		return nil, err
	}
	return parseIn(expr, loc)
}

// Zone resolves an IANA zone name; "" is UTC. "Local" is refused: nodes would disagree.
func Zone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if tz == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	return loc, nil
}

// ErrNeverFires is returned by Parse for an expression that names no existing date, such as
// "0 0 30 2 *".
var ErrNeverFires = errors.New("cron expression never fires")

func parseIn(expr string, loc *time.Location) (*Schedule, error) {
	s := &Schedule{expr: expr, loc: loc}
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, errors.New("give the zone in timezone, not as a TZ= prefix")
	}
	if rest, ok := strings.CutPrefix(e, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("@every needs a whole number of seconds, at least 1s, such as @every 30s")
		}
		s.every = d
		return s, nil
	}
	parsed, err := parser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %v", expr, err)
	}
	spec, ok := parsed.(*robfig.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid cron expression %q", expr)
	}
	spec.Location = time.UTC
	s.spec = spec
	// robfig gives up after five years: an expression that matches no date within them (Feb 30)
	// never fires.
	if spec.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, ErrNeverFires
	}
	return s, nil
}

// String returns the expression as given.
func (s *Schedule) String() string { return s.expr }

// Location is the schedule's zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Every is the period of an @every schedule, 0 for the others.
func (s *Schedule) Every() time.Duration { return s.every }

// Next returns the first instant of the schedule strictly after t, in UTC, or the zero time
// if there is none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		p := int64(s.every / time.Second)
		u := t.Unix()
		next := (u/p + 1) * p
		if u < 0 && u%p != 0 { // floor division for instants before 1970
			next -= p
		}
		return time.Unix(next, 0).UTC()
	}
	w := wall(t.In(s.loc))
	for range 10_000 { // gaps and repeats can only cost a few rounds; the bound is a guard
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := s.instant(w); at.After(t) {
			return at.UTC()
		}
	}
	return time.Time{}
}

// wall is t's wall-clock reading in its zone, as a UTC time (which has no gaps or repeats).
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// instant is the first instant whose wall time in the schedule's zone is w, or, when the
// clock skips w, the first instant after the gap.
func (s *Schedule) instant(w time.Time) time.Time {
	u := w.Unix()
	// The true offset is one in effect within a day of u (zones do not change twice a day).
	var best time.Time
	var candidates []time.Time
	for _, probe := range [...]int64{u - 86400, u, u + 86400} {
		_, off := time.Unix(probe, 0).In(s.loc).Zone()
		c := time.Unix(u-int64(off), 0).In(s.loc)
		candidates = append(candidates, c)
		if wall(c).Equal(w) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: the transition is the start of the zone in effect at some candidate, the one
	// whose wall time jumps over w.
	for _, c := range candidates {
		start, _ := c.ZoneBounds()
		if start.IsZero() {
			continue
		}
		if before := start.Add(-time.Nanosecond).In(s.loc); wall(before).Before(w) && wall(start.In(s.loc)).After(w) {
			return start
		}
	}
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, s.loc)
}
