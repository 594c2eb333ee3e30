package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
)

// presenceManifest keeps presence with join and leave frames on chat.*; testfn's connect
// function signs a client in from its session cookie and gives it the info {"via":"testfn"}.
const presenceManifest = `
kind: topics
rules:
  - match: chat.{room}
    subscribe: 'true'
    presence: true
    joinLeave: true
  - match: news.*
    subscribe: 'true'
---
name: wsfn
handler: {{testfn}}
sandbox: off
env: {RECORD_FILE: "%s"}
triggers:
  - websocket: {event: connect}
  - http: {method: GET, path: "/t/{op}"}
`

// presenceRefresh is the nodes' --ws-presence-refresh: a dead node's clients leave the
// presence within 3 times it (docs/websocket.md#presence).
const presenceRefresh = 400 * time.Millisecond

// presenceClient connects to g as session sub and returns the client and its connection ID.
func presenceClient(t *testing.T, g *gateway, sub string) (*wsClient, string) {
	t.Helper()
	c := dialWS(t, wsURL(g, ""), http.Header{"Cookie": {"session=" + sub}})
	f := c.reply("") // the connected frame has no id
	if f.Connected == nil {
		t.Fatalf("first frame of %s: %+v, want connected", sub, f)
	}
	return c, f.Connected.Client
}

// presenceFrame waits for c's next join or leave frame of topic, skipping publications.
func presenceFrame(t *testing.T, c *wsClient, d time.Duration) (kind string, m wsMember) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f := c.publication(time.Until(deadline))
		switch {
		case f.Join != nil:
			return "join", *f.Join
		case f.Leave != nil:
			return "leave", *f.Leave
		}
	}
}

func expectPresence(t *testing.T, c *wsClient, kind, client, sub string) {
	t.Helper()
	k, m := presenceFrame(t, c, 10*time.Second)
	if k != kind || m.Client != client || m.Sub != sub || string(m.Info) != `{"via":"testfn"}` {
		t.Fatalf("%s %+v (info %s), want %s of %s (%s) with info {\"via\":\"testfn\"}", k, m, m.Info, kind, client, sub)
	}
}

// members reads the whole presence of topic through c, page by page.
func members(t *testing.T, c *wsClient, topic string) []string {
	t.Helper()
	var out []string
	cursor := ""
	for {
		req := map[string]any{"op": "presence", "topic": topic}
		if cursor != "" {
			req["cursor"] = cursor
		}
		f := c.mustOK(req)
		for _, m := range f.Members {
			out = append(out, m.Sub+"/"+m.Client)
		}
		if cursor = f.Cursor; cursor == "" {
			slices.Sort(out)
			return out
		}
	}
}

// TestWSPresenceAcrossNodes: clients of two nodes sharing Redis see each other in a topic's
// presence (the ops, the admin API, a function's fn.Presence) and hear each other's joins and
// leaves; a node that stops takes its clients out at once; when a node is killed with SIGKILL,
// its clients leave the presence within 3 refresh intervals, and the survivors get their leave.
func TestWSPresenceAcrossNodes(t *testing.T) {
	rurl := redisURL(t)
	cluster := "e2e-presence-" + id.New()[:12]
	manifest := writeManifest(t, fmt.Sprintf(presenceManifest, filepath.Join(t.TempDir(), "record.jsonl")))
	args := []string{"--redis", rurl, "--cluster", cluster, "--manifests", manifest,
		"--ws-presence-refresh", presenceRefresh.String()}
	a := startGateway(t, "", args...)
	b := startGateway(t, "", args...)
	waitFunctionsReady(t, a)
	waitFunctionsReady(t, b)

	ann, annID := presenceClient(t, a, "ann")
	bob, bobID := presenceClient(t, b, "bob")
	carl, carlID := presenceClient(t, b, "carl")
	const topic = "chat.room1"

	ann.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	expectPresence(t, ann, "join", annID, "ann") // a subscriber hears its own join too
	bob.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	expectPresence(t, bob, "join", bobID, "bob")
	expectPresence(t, ann, "join", bobID, "bob") // from the other node
	carl.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	for _, c := range []*wsClient{ann, bob, carl} {
		expectPresence(t, c, "join", carlID, "carl")
	}

	want := []string{"ann/" + annID, "bob/" + bobID, "carl/" + carlID}
	for _, c := range []*wsClient{ann, carl} {
		if got := members(t, c, topic); !slices.Equal(got, want) {
			t.Fatalf("presence %v, want %v", got, want)
		}
	}
	// Each node counts its own clients in presence.
	for g, n := range map[*gateway]string{a: "1", b: "2"} {
		if r := do(t, "GET", g.URL+"/metrics", nil); !strings.Contains(string(r.Body), "\nedgefn_ws_presence_members "+n+"\n") {
			t.Errorf("%s: edgefn_ws_presence_members is not %s", g.Addr, n)
		}
	}
	if f := bob.mustOK(map[string]any{"op": "presence_stats", "topic": topic}); f.Clients != 3 || f.Users != 3 {
		t.Errorf("presence_stats: %d clients, %d users; want 3, 3", f.Clients, f.Users)
	}
	// The admin API reads it too.
	var view struct {
		Members []wsMember `json:"members"`
		Stats   struct{ Clients, Users int }
	}
	a.admin(t, "GET", "/admin/v1/topics/"+topic+"/presence", nil).JSON(t, &view)
	if len(view.Members) != 3 || view.Stats.Clients != 3 {
		t.Errorf("admin presence: %+v", view)
	}
	var page struct {
		Members []wsMember `json:"members"`
		Cursor  string     `json:"cursor"`
	}
	a.admin(t, "GET", "/admin/v1/topics/"+topic+"/presence?limit=2", nil).JSON(t, &page)
	if len(page.Members) != 2 || page.Cursor == "" {
		t.Errorf("admin presence, limit 2: %+v", page)
	}
	cursor := page.Cursor
	page.Members, page.Cursor = nil, ""
	a.admin(t, "GET", "/admin/v1/topics/"+topic+"/presence?limit=2&cursor="+cursor, nil).JSON(t, &page)
	if len(page.Members) != 1 || page.Cursor != "" {
		t.Errorf("admin presence, second page: %+v", page)
	}
	for _, bad := range []string{"chat..x/presence", topic + "/presence?limit=0", topic + "/presence?limit=1001"} {
		if r := a.admin(t, "GET", "/admin/v1/topics/"+bad, nil); r.Status != 400 {
			t.Errorf("admin presence %s: %d, want 400", bad, r.Status)
		}
	}
	if r := do(t, "GET", a.URL+"/admin/v1/topics/"+topic+"/presence", nil); r.Status != 401 {
		t.Errorf("admin presence without the token: %d", r.Status)
	}
	// A topic without presence.
	ann.refused(map[string]any{"op": "presence", "topic": "news.x"}, "forbidden")
	// A function reads it mid-invocation (fn.Presence, fn.PresenceStats), on either node.
	for _, g := range []*gateway{a, b} {
		var read struct {
			Members        []wsMember
			Clients, Users int
		}
		r := do(t, "GET", g.URL+"/t/presence?topic="+topic, nil)
		r.JSON(t, &read)
		var got []string
		for _, m := range read.Members {
			got = append(got, m.Sub+"/"+m.Client)
		}
		slices.Sort(got)
		if r.Status != 200 || !slices.Equal(got, want) || read.Clients != 3 || read.Users != 3 {
			t.Errorf("fn.Presence on %s: %d %s", g.Addr, r.Status, r.Body)
		}
	}

	// An unsubscribe is a leave, on every node.
	bob.mustOK(map[string]any{"op": "unsubscribe", "topic": topic})
	expectPresence(t, ann, "leave", bobID, "bob")
	expectPresence(t, carl, "leave", bobID, "bob")

	// A node that stops (SIGTERM) takes its clients out at once: c's entries would live 3
	// minutes, so only its leaves can explain that dave goes.
	c := startGateway(t, "", append(slices.Clip(args), "--ws-presence-refresh", "1m")...)
	waitFunctionsReady(t, c)
	dave, daveID := presenceClient(t, c, "dave")
	dave.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	expectPresence(t, ann, "join", daveID, "dave")
	c.stop()
	expectPresence(t, ann, "leave", daveID, "dave")
	if got := members(t, ann, topic); !slices.Equal(got, []string{"ann/" + annID, "carl/" + carlID}) {
		t.Fatalf("presence after c stopped: %v", got)
	}

	// b dies: carl leaves the presence within 3 refresh intervals of b's last refresh, and ann
	// hears of it.
	b.kill()
	killed := time.Now()
	testkit.Eventually(t, 3*presenceRefresh+5*time.Second, "carl to leave the presence", func() bool {
		return slices.Equal(members(t, ann, topic), []string{"ann/" + annID})
	})
	if gone := time.Since(killed); gone > 3*presenceRefresh+2*time.Second {
		t.Errorf("carl left the presence %v after b was killed, over 3 × %v (and slack)", gone, presenceRefresh)
	}
	expectPresence(t, ann, "leave", carlID, "carl")
	if f := ann.mustOK(map[string]any{"op": "presence_stats", "topic": topic}); f.Clients != 1 || f.Users != 1 {
		t.Errorf("presence_stats after b died: %d clients, %d users; want 1, 1", f.Clients, f.Users)
	}
}
