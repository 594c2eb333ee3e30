package cron

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, expr, tz string) *Schedule {
	t.Helper()
	s, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return s
}

// instants returns the n instants after from, formatted in the schedule's zone.
func instants(s *Schedule, from time.Time, n int) []string {
	var out []string
	t := from
	for range n {
		t = s.Next(t)
		out = append(out, t.In(s.Location()).Format("2006-01-02 15:04:05 MST"))
	}
	return out
}

func TestScheduleParseErrors(t *testing.T) {
	for _, c := range []struct{ expr, tz, want string }{
		{"* * * *", "", `invalid cron expression "* * * *": expected exactly 5 fields, found 4: [* * * *]`},
		{"61 * * * *", "", `invalid cron expression "61 * * * *": end of range (61) above maximum (59): 61`},
		{"@sometimes", "", `invalid cron expression "@sometimes": unrecognized descriptor: @sometimes`},
		{"@every 500ms", "", "@every needs a whole number of seconds, at least 1s, such as @every 30s"},
		{"@every 1.5s", "", "@every needs a whole number of seconds, at least 1s, such as @every 30s"},
		{"@every soon", "", "@every needs a whole number of seconds, at least 1s, such as @every 30s"},
		{"CRON_TZ=Europe/Berlin 0 * * * *", "", "give the zone in timezone, not as a TZ= prefix"},
		{"TZ=UTC 0 * * * *", "", "give the zone in timezone, not as a TZ= prefix"},
		{"0 0 30 2 *", "", "cron expression never fires"},
		{"0 * * * *", "Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"0 * * * *", "Local", `unknown time zone "Local"`},
	} {
		_, err := Parse(c.expr, c.tz)
		if err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q, %q) = %v; want %q", c.expr, c.tz, err, c.want)
		}
	}
}

// TestScheduleEveryIsEpochAligned: @every D fires at the Unix-epoch multiples of D, whatever
// the moment it is asked from and the zone.
func TestScheduleEveryIsEpochAligned(t *testing.T) {
	s := mustParse(t, "@every 30s", "Europe/Berlin")
	const base = 1_699_999_980 // a multiple of 30
	for _, from := range []time.Time{
		time.Unix(base, 0), time.Unix(base+13, 999), time.Unix(base+29, 999_999_999),
	} {
		got := s.Next(from)
		if got.Unix() != base+30 || got.Nanosecond() != 0 {
			t.Errorf("Next(%v) = %v; want %v", from, got, time.Unix(base+30, 0).UTC())
		}
	}
	if got := s.Next(time.Unix(base+30, 0)); got.Unix() != base+60 {
		t.Errorf("Next(an instant) = %v; want the one after", got)
	}
	s = mustParse(t, "@every 1m30s", "")
	if got := s.Next(time.Unix(1_000, 0)); got.Unix() != 1_080 {
		t.Errorf("@every 1m30s: Next(1000) = %d; want 1080", got.Unix())
	}
}

func TestScheduleDescriptorsAndFields(t *testing.T) {
	from := time.Date(2026, 6, 1, 10, 20, 30, 0, time.UTC)
	for _, c := range []struct {
		expr, tz string
		want     []string
	}{
		{"@hourly", "", []string{"2026-06-01 11:00:00 UTC", "2026-06-01 12:00:00 UTC"}},
		{"@daily", "", []string{"2026-06-02 00:00:00 UTC", "2026-06-03 00:00:00 UTC"}},
		{"*/15 * * * *", "", []string{"2026-06-01 10:30:00 UTC", "2026-06-01 10:45:00 UTC"}},
		{"0 9 * * MON-FRI", "America/New_York", []string{"2026-06-01 09:00:00 EDT", "2026-06-02 09:00:00 EDT"}},
	} {
		got := instants(mustParse(t, c.expr, c.tz), from, len(c.want))
		if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
			t.Errorf("%s in %q: got %v; want %v", c.expr, c.tz, got, c.want)
		}
	}
}

// TestScheduleDaylightSaving checks Europe/Berlin's changes of 2026: on 29 March the clock
// jumps from 02:00 to 03:00, on 25 October it goes back from 03:00 to 02:00.
func TestScheduleDaylightSaving(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	march := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	october := time.Date(2026, 10, 24, 12, 0, 0, 0, berlin)
	for _, c := range []struct {
		name, expr string
		from       time.Time
		want       []string
	}{
		// robfig's own Next skips the day: the hour 2 never shows.
		{"gap: a skipped time fires at the end of the gap", "30 2 * * *", march,
			[]string{"2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST"}},
		{"gap: the skipped times fire once in all", "*/20 * * * *", time.Date(2026, 3, 29, 1, 30, 0, 0, berlin),
			[]string{"2026-03-29 01:40:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-29 03:20:00 CEST"}},
		{"gap: a time outside it is untouched", "0 4 * * *", march,
			[]string{"2026-03-29 04:00:00 CEST", "2026-03-30 04:00:00 CEST"}},
		// robfig's own Next fires 02:30 twice, an hour apart.
		{"repeat: the first occurrence only", "30 2 * * *", october,
			[]string{"2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"}},
		{"repeat: the repeated hour does not fire again", "*/30 * * * *", time.Date(2026, 10, 25, 1, 45, 0, 0, berlin),
			[]string{"2026-10-25 02:00:00 CEST", "2026-10-25 02:30:00 CEST", "2026-10-25 03:00:00 CET", "2026-10-25 03:30:00 CET"}},
		{"@every ignores the zone's changes", "@every 1h", time.Date(2026, 10, 25, 1, 30, 0, 0, berlin),
			[]string{"2026-10-25 02:00:00 CEST", "2026-10-25 02:00:00 CET", "2026-10-25 03:00:00 CET"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.expr, "Europe/Berlin")
			if got := instants(s, c.from, len(c.want)); strings.Join(got, ", ") != strings.Join(c.want, ", ") {
				t.Errorf("got %v\nwant %v", got, c.want)
			}
		})
	}
	// Asked from inside the repeated hour (its second pass), nothing fires until it is over.
	s := mustParse(t, "*/30 * * * *", "Europe/Berlin")
	second := time.Date(2026, 10, 25, 0, 40, 0, 0, time.UTC) // 02:40 CET, after 02:40 CEST
	if got := instants(s, second, 1); got[0] != "2026-10-25 03:00:00 CET" {
		t.Errorf("from the repeated hour: got %v; want 03:00 CET", got)
	}
}
