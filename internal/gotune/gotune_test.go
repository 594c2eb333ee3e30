package gotune

import "testing"

func TestGODEBUG(t *testing.T) {
	for _, c := range []struct {
		in, want string
		added    bool
	}{
		{"", Setting, true},
		{"  ", Setting, true},
		{"http2client=0", "http2client=0," + Setting, true},
		{"schedtrace=0", "schedtrace=0", false},
		{"gctrace=1, schedtrace=1000", "gctrace=1, schedtrace=1000", false},
		{"xschedtrace=1", "xschedtrace=1," + Setting, true},
	} {
		got, added := GODEBUG(c.in)
		if got != c.want || added != c.added {
			t.Errorf("GODEBUG(%q) = %q, %v; want %q, %v", c.in, got, added, c.want, c.added)
		}
	}
}
