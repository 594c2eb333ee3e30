package e2e

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// viaProxy returns raw with its host replaced by the proxy's address.
func viaProxy(t testing.TB, raw string) (string, *proxy) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.Addr
	return u.String(), p
}

func TestBrokerOutagesAreSurvivedAndReported(t *testing.T) {
	redisRaw, rp := viaProxy(t, redisURL(t))
	amqpRaw, ap := viaProxy(t, amqpURL(t))
	rec := filepath.Join(t.TempDir(), "rec")
	queue, stream := uniqueName("q"), uniqueName("s")
	g := startGateway(t, "", "--redis", redisRaw, "--amqp", amqpRaw, "--manifests", writeManifest(t, `
name: rec
handler: {{testfn}}
sandbox: off
env: {DEFAULT_OP: record, RECORD_FILE: "`+rec+`"}
triggers:
  - queue: {name: `+queue+`}
  - stream: {name: `+stream+`}
`))
	ready := func() (int, string) {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		if err != nil {
			t.Fatalf("/readyz: %v (did the gateway crash?)", err)
		}
		return r.Status, string(r.Body)
	}
	testkit.Eventually(t, 15*time.Second, "/readyz 200", func() bool { s, _ := ready(); return s == 200 })

	for _, outage := range []struct {
		name string
		p    *proxy
	}{{"redis", rp}, {"rabbitmq", ap}} {
		outage.p.cut()
		testkit.Eventually(t, 20*time.Second, "/readyz to report "+outage.name+" down", func() bool {
			s, body := ready()
			return s == 503 && strings.Contains(body, outage.name)
		})
		outage.p.restore()
		testkit.Eventually(t, 30*time.Second, "/readyz 200 once "+outage.name+" is back", func() bool { s, _ := ready(); return s == 200 })
	}

	// Consumption resumed on both.
	mustCLI(t, g, "publish", "--queue", queue, "--id", "after-q", "--data", "{}")
	mustCLI(t, g, "publish", "--stream", stream, "--id", "after-s", "--data", "{}")
	testkit.Eventually(t, 30*time.Second, "both messages after the outages", func() bool {
		seen := map[string]bool{}
		for _, l := range readRecords(t, rec) {
			seen[l.ID] = true
		}
		return seen["after-q"] && seen["after-s"]
	})
}
