package runtime

import (
	"slices"
	"testing"

	"github.com/edgefn/edgefn/internal/gotune"
)

// A plugin's environment is the manifest's env and the GODEBUG setting edgefn adds, merged
// into a GODEBUG the manifest sets.
func TestEnvList(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want []string
	}{
		{nil, []string{"GODEBUG=" + gotune.Setting}},
		{map[string]string{"B": "2", "A": "1"}, []string{"A=1", "B=2", "GODEBUG=" + gotune.Setting}},
		{map[string]string{"GODEBUG": "http2client=0"}, []string{"GODEBUG=http2client=0," + gotune.Setting}},
		{map[string]string{"GODEBUG": "schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}},
	} {
		if got := envList(c.env); !slices.Equal(got, c.want) {
			t.Errorf("envList(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}
