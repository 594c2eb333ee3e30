package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
)

// tickRecord is one line testfn appends to RECORD_FILE for a schedule event.
type tickRecord struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Source      string `json:"source"`
	Time        string `json:"time"`
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
	Attempt     int    `json:"attempt"`
}

// instant is the record's event time.
func (r tickRecord) instant(t testing.TB) time.Time {
	at, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		t.Fatalf("record %+v: %v", r, err)
	}
	return at
}

// readTicks reads the schedule records of path; none when it does not exist yet.
func readTicks(t testing.TB, path string) []tickRecord {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tickRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r tickRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// scheduleManifest is testfn bound to a schedule, recording each tick to rec.
func scheduleManifest(name, rec, extraEnv, schedule string) string {
	return `
name: ` + name + `
handler: {{testfn}}
sandbox: off
timeout: 30s
env: {RECORD_FILE: "` + rec + `"` + extraEnv + `}
triggers:
  - schedule: ` + schedule + `
`
}

// TestScheduleFiresEvents: a `@every 1s` schedule on one node invokes the function at whole
// seconds with the schedule's event: its type, source, instant, stable ID and data.
func TestScheduleFiresEvents(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec")
	g := startGateway(t, "", "--manifests", writeManifest(t, scheduleManifest("tick", rec, "",
		`{cron: '@every 1s', timezone: Europe/Berlin, data: {report: daily}}`)))
	var got []tickRecord
	testkit.Eventually(t, 15*time.Second, "two ticks recorded", func() bool {
		got = readTicks(t, rec)
		return len(got) >= 2
	})
	for i, r := range got[:2] {
		at := r.instant(t)
		if r.Type != "edgefn.schedule" || r.Source != "schedule/tick" || r.Attempt != 1 ||
			r.ContentType != "application/json" || r.Data != `{"report":"daily"}` {
			t.Errorf("tick %d: %+v", i, r)
		}
		if at.Nanosecond() != 0 || r.ID != "schedule/tick/0/"+strconv.FormatInt(at.Unix(), 10) {
			t.Errorf("tick %d: instant %s, id %q; want a whole second and the ID it derives", i, r.Time, r.ID)
		}
	}
	if a, b := got[0].instant(t), got[1].instant(t); !b.Equal(a.Add(time.Second)) {
		t.Errorf("instants %v then %v; want one second apart", a, b)
	}
	testkit.Eventually(t, 10*time.Second, "the ticks in edgefn_invocations_total and edgefn_schedule_runs_total", func() bool {
		m := scrape(t, g)
		n, ok := series(m, "edgefn_invocations_total", map[string]string{"function": "tick", "trigger": "schedule", "outcome": "success"})
		runs, ok2 := series(m, "edgefn_schedule_runs_total", map[string]string{"function": "tick", "outcome": "success"})
		return ok && n >= 2 && ok2 && runs >= 2
	})
}

// TestScheduleOncePerCluster: two nodes sharing the real Redis, in a cluster of this run
// alone, run each instant of a `@every 1s` schedule exactly once between them: no ID twice,
// no instant missing between the first and the last.
func TestScheduleOncePerCluster(t *testing.T) {
	rurl := redisURL(t)
	name := "e2e-sched-" + id.New()[:12]
	rec := filepath.Join(t.TempDir(), "rec")
	manifest := writeManifest(t, scheduleManifest("tick", rec, "", `{cron: '@every 1s'}`))
	args := []string{"--redis", rurl, "--cluster", name, "--manifests", manifest}
	a := startGateway(t, "", append(args, "--node-id", "node-a")...)
	b := startGateway(t, "", append(args, "--node-id", "node-b")...)
	// Both nodes run the function; then let a few instants pass with both up.
	var seen int
	testkit.Eventually(t, 20*time.Second, "both nodes run the schedule", func() bool {
		return strings.Contains(a.logs.String(), `"trigger":"tick: schedule @every 1s (UTC)"`) &&
			strings.Contains(b.logs.String(), `"trigger":"tick: schedule @every 1s (UTC)"`)
	})
	testkit.Eventually(t, 20*time.Second, "five more instants after both nodes started", func() bool {
		if seen == 0 {
			seen = len(readTicks(t, rec))
		}
		return len(readTicks(t, rec)) >= seen+5
	})
	a.stop()
	b.stop()
	ticks := readTicks(t, rec)
	byID := map[string]int{}
	var instants []int64
	for _, r := range ticks {
		byID[r.ID]++
		if byID[r.ID] == 2 {
			t.Errorf("instant %s ran twice", r.ID)
		}
		instants = append(instants, r.instant(t).Unix())
	}
	sort.Slice(instants, func(i, j int) bool { return instants[i] < instants[j] })
	for i := 1; i < len(instants); i++ {
		if instants[i] != instants[i-1] && instants[i] != instants[i-1]+1 {
			t.Errorf("no run for the instants between %d and %d", instants[i-1], instants[i])
		}
	}
	t.Logf("%d runs over %d instants", len(ticks), len(byID))
	// The claims are the cluster's keys, one per instant, and they expire.
	opts, err := goredis.ParseURL(rurl)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	prefix := cluster.RedisPrefix(name) + "schedule:tick:0:"
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Del(ctx, keys...)
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		key := prefix + id[strings.LastIndex(id, "/")+1:]
		if !slices.Contains(keys, key) {
			t.Errorf("no claim %s for the run %s (keys %v)", key, id, keys)
		} else if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("claim %s does not expire (ttl %v)", key, ttl)
		}
	}
}

// TestScheduleSkipsWhileRunning: a run held past the next tick makes that tick skipped, and
// counted in edgefn_schedule_runs_total{outcome="skipped"}; runs go on once it ends.
func TestScheduleSkipsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	rec, gate := filepath.Join(dir, "rec"), filepath.Join(dir, "gate")
	g := startGateway(t, "", "--manifests", writeManifest(t, scheduleManifest("slow", rec, `, GATE_FILE: "`+gate+`"`,
		`{cron: '@every 1s'}`)))
	testkit.Eventually(t, 15*time.Second, "the first run starts", func() bool { return len(readTicks(t, rec)) == 1 })
	testkit.Eventually(t, 15*time.Second, "a skipped tick in /metrics", func() bool {
		n, ok := series(scrape(t, g), "edgefn_schedule_runs_total", map[string]string{"function": "slow", "outcome": "skipped"})
		return ok && n >= 1
	})
	if n := len(readTicks(t, rec)); n != 1 {
		t.Fatalf("%d runs while the first still went; want 1", n)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var ticks []tickRecord
	testkit.Eventually(t, 15*time.Second, "runs go on after the slow one", func() bool {
		ticks = readTicks(t, rec)
		return len(ticks) >= 2
	})
	if first, next := ticks[0].instant(t), ticks[1].instant(t); next.Sub(first) < 2*time.Second {
		t.Errorf("the run after the slow one is for %v, %v after it; want the skipped instant(s) left out", next, next.Sub(first))
	}
	testkit.Eventually(t, 10*time.Second, "the slow run counted a success", func() bool {
		n, ok := series(scrape(t, g), "edgefn_schedule_runs_total", map[string]string{"function": "slow", "outcome": "success"})
		return ok && n >= 1
	})
}
