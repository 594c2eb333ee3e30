package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
)

// attemptsOf returns the attempts recorded for each event ID, in order.
func attemptsOf(ticks []tickRecord) map[string][]int {
	out := map[string][]int{}
	for _, r := range ticks {
		out[r.ID] = append(out[r.ID], r.Attempt)
	}
	return out
}

// TestScheduleRetriesDeadLettersRedrive: on one embedded node, a failing scheduled run is
// tried 1+retries times with the same ID, then `edgefn dlq list schedule/FN` shows it; once
// the function works again, `edgefn dlq redrive schedule/FN` runs it again, at attempt 1.
func TestScheduleRetriesDeadLettersRedrive(t *testing.T) {
	dir := t.TempDir()
	rec, fail := filepath.Join(dir, "rec"), filepath.Join(dir, "fail")
	if err := os.WriteFile(fail, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The breaker stays closed: the failures are the function's own, each one.
	g := startGateway(t, "", "--manifests", writeManifest(t, strings.Replace(scheduleManifest("flaky", rec, `, FAIL_FILE: "`+fail+`"`,
		`{cron: '@every 1s', retries: 2, backoff: 100ms}`), "timeout: 30s", "timeout: 30s\nbreaker: {failures: 1000}", 1)))
	var dead string
	testkit.Eventually(t, 20*time.Second, "a run dead-lettered after 3 attempts", func() bool {
		for id, attempts := range attemptsOf(readTicks(t, rec)) {
			if len(attempts) == 3 && attempts[0] == 1 && attempts[1] == 2 && attempts[2] == 3 {
				out, _, code := cli(t, g, "dlq", "list", "schedule/flaky")
				if code == 0 && strings.Contains(out, id) {
					dead = id
					return true
				}
			}
		}
		return false
	})
	out := mustCLI(t, g, "dlq", "show", "schedule/flaky")
	if !strings.Contains(out, "id: "+dead) || !strings.Contains(out, "attempts: 3") || !strings.Contains(out, "scheduled failure") {
		t.Fatalf("dlq show:\n%s", out)
	}
	testkit.Eventually(t, 10*time.Second, "the failures counted", func() bool {
		m := scrape(t, g)
		errs, ok := series(m, "edgefn_schedule_runs_total", map[string]string{"function": "flaky", "outcome": "error"})
		dl, ok2 := series(m, "edgefn_trigger_dead_letters_total", map[string]string{"function": "flaky", "trigger": "schedule/flaky"})
		_, ok3 := series(m, "edgefn_schedule_lag_seconds", map[string]string{"function": "flaky"})
		return ok && errs >= 3 && ok2 && dl >= 1 && ok3
	})
	mustCLI(t, g, "schedule", "pause", "flaky") // no new ticks: what runs next is the redrive
	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, g, "dlq", "redrive", "schedule/flaky")
	if !strings.HasPrefix(out, "re-drove ") || strings.HasPrefix(out, "re-drove 0 ") {
		t.Fatalf("redrive: %q", out)
	}
	testkit.Eventually(t, 15*time.Second, "the re-driven run succeeds at attempt 1", func() bool {
		a := attemptsOf(readTicks(t, rec))[dead]
		return len(a) == 4 && a[3] == 1
	})
	testkit.Eventually(t, 10*time.Second, "the dead letters gone", func() bool {
		_, errOut, code := cli(t, g, "dlq", "list", "schedule/flaky")
		return code == 0 && strings.Contains(errOut, "no dead letters")
	})
	if _, errOut, code := cli(t, g, "dlq", "list", "schedule/nope"); code == 0 || !strings.Contains(errOut, "schedule trigger") {
		t.Errorf("dlq list of a function without schedule: exit %d %q", code, errOut)
	}
}

// TestSchedulePauseResumeAcrossNodes: two nodes sharing the real Redis; `edgefn schedule
// pause` sent to one stops the ticks on both (while the instants go by, as the trigger's last
// instant in Redis shows), `edgefn list` on the other says paused, `edgefn schedule run` runs
// once anyway, and `resume` on the other node starts the ticks again.
func TestSchedulePauseResumeAcrossNodes(t *testing.T) {
	rurl := redisURL(t)
	name := "e2e-pause-" + id.New()[:12]
	rec := filepath.Join(t.TempDir(), "rec")
	manifest := writeManifest(t, scheduleManifest("tick", rec, "", `{cron: '@every 1s'}`))
	args := []string{"--redis", rurl, "--cluster", name, "--manifests", manifest}
	a := startGateway(t, "", append(args, "--node-id", "node-a")...)
	b := startGateway(t, "", append(args, "--node-id", "node-b")...)
	opts, err := goredis.ParseURL(rurl)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(ctx, cluster.RedisPrefix(name)+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	lastKey := cluster.RedisPrefix(name) + "schedule:tick:0:last"
	last := func() int64 { n, _ := rdb.Get(ctx, lastKey).Int64(); return n }
	testkit.Eventually(t, 20*time.Second, "ticks run", func() bool { return len(readTicks(t, rec)) >= 2 })

	mustCLI(t, a, "schedule", "pause", "tick")
	paused := last()
	// A tick claimed just before the pause may still be recorded: count from the next one.
	testkit.Eventually(t, 10*time.Second, "an instant after the pause", func() bool { return last() >= paused+1 })
	settled := len(readTicks(t, rec))
	from := last()
	testkit.Eventually(t, 15*time.Second, "three instants go by paused", func() bool { return last() >= from+3 })
	if n := len(readTicks(t, rec)); n != settled {
		t.Fatalf("%d runs while paused", n-settled)
	}
	out := mustCLI(t, b, "list")
	if !strings.Contains(out, "schedule @every 1s (UTC) paused") {
		t.Errorf("list on the other node:\n%s", out)
	}
	out = mustCLI(t, b, "schedule", "run", "tick")
	if !strings.HasPrefix(out, "started schedule/tick/0/run-") {
		t.Fatalf("schedule run: %q", out)
	}
	runID := strings.TrimSpace(strings.TrimPrefix(out, "started "))
	testkit.Eventually(t, 10*time.Second, "the run asked for", func() bool { return len(attemptsOf(readTicks(t, rec))[runID]) == 1 })

	mustCLI(t, b, "schedule", "resume", "tick")
	resumed := last()
	testkit.Eventually(t, 15*time.Second, "ticks after the resume", func() bool {
		for _, r := range readTicks(t, rec) {
			if u, err := strconv.ParseInt(r.ID[strings.LastIndex(r.ID, "/")+1:], 10, 64); err == nil && u > resumed {
				return true
			}
		}
		return false
	})
	out = mustCLI(t, a, "get", "tick")
	if !strings.Contains(out, "schedule @every 1s (UTC) next ") {
		t.Errorf("get after the resume:\n%s", out)
	}
}

// TestScheduleRunSurvivesNodeDeath: a node killed in the middle of a run counts as a failed
// attempt; another node of the cluster takes the run over once it has been pending for the
// function's timeout and a margin, and runs it again (attempt 2) to success.
func TestScheduleRunSurvivesNodeDeath(t *testing.T) {
	rurl := redisURL(t)
	name := "e2e-death-" + id.New()[:12]
	dir := t.TempDir()
	rec, gate := filepath.Join(dir, "rec"), filepath.Join(dir, "gate")
	manifest := writeManifest(t, strings.Replace(scheduleManifest("slow", rec, `, GATE_FILE: "`+gate+`"`, `{cron: '@every 1s'}`),
		"timeout: 30s", "timeout: 3s", 1))
	args := []string{"--redis", rurl, "--cluster", name, "--manifests", manifest}
	a := startGateway(t, "", append(args, "--node-id", "node-a")...)
	testkit.Eventually(t, 15*time.Second, "the first run starts on node a", func() bool { return len(readTicks(t, rec)) == 1 })
	first := readTicks(t, rec)[0].ID
	a.kill()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	startGateway(t, "", append(args, "--node-id", "node-b")...)
	testkit.Eventually(t, 30*time.Second, "node b runs the dead node's run again", func() bool {
		at := attemptsOf(readTicks(t, rec))[first]
		return len(at) >= 2 && at[len(at)-1] >= 2
	})
	opts, _ := goredis.ParseURL(rurl)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	if keys, _ := rdb.Keys(context.Background(), cluster.RedisPrefix(name)+"*").Result(); len(keys) > 0 {
		rdb.Del(context.Background(), keys...)
	}
}
