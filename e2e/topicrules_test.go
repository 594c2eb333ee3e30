package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// rulesManifest is a topics document that lets anyone subscribe to the topics matching each
// of matches, and to nothing else.
func rulesManifest(t testing.TB, matches ...string) string {
	t.Helper()
	y := "kind: topics\nrules:\n"
	for _, m := range matches {
		y += "  - match: " + m + "\n    subscribe: 'true'\n"
	}
	return writeManifest(t, y)
}

// subscribes says whether an anonymous client of g may subscribe to topic now.
func subscribes(t *testing.T, g *gateway, topic string) bool {
	t.Helper()
	c := dialWS(t, wsURL(g, ""), nil)
	defer c.conn.Close()
	f := c.request(map[string]any{"op": "subscribe", "topic": topic})
	if !f.OK && (f.Error == nil || f.Error.Code != "forbidden") {
		t.Fatalf("subscribe %s on %s: %+v", topic, g.Addr, f.Error)
	}
	return f.OK
}

// subscribed is an anonymous client of g subscribed to topic.
func subscribed(t *testing.T, g *gateway, topic string) *wsClient {
	t.Helper()
	c := dialWS(t, wsURL(g, ""), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	return c
}

// expectUnsubscribed waits for the frame that ends c's subscription to topic as forbidden.
func expectUnsubscribed(t *testing.T, c *wsClient, topic string) {
	t.Helper()
	f := c.publication(15 * time.Second)
	if f.Topic != topic || f.Unsubscribed == nil || f.Unsubscribed.Code != "forbidden" {
		t.Fatalf("frame %+v (unsubscribed %+v), want the end of %s as forbidden", f, f.Unsubscribed, topic)
	}
}

// rulesVersion is the current version of g's deployed topic rules (0: none).
func rulesVersion(t *testing.T, g *gateway) int {
	t.Helper()
	r := g.admin(t, "GET", "/admin/v1/topics", nil)
	if r.Status == 404 {
		return 0
	}
	var v struct {
		Version int `json:"version"`
	}
	if r.Status != 200 {
		t.Fatalf("GET /admin/v1/topics: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &v)
	return v.Version
}

// TestTopicRulesDeployOneNode: on a node alone, deployed topic rules take effect at once for
// new subscribes and end the subscriptions they forbid; bad rules are refused with their
// line; rollback --topics restores the previous rules; they survive a restart.
func TestTopicRulesDeployOneNode(t *testing.T) {
	dataDir := t.TempDir()
	news := rulesManifest(t, "news.*")
	g := startGateway(t, dataDir, "--manifests", news)
	if v := rulesVersion(t, g); v != 1 {
		t.Fatalf("the start-up manifest's rules are version %d, want 1", v)
	}
	reader := subscribed(t, g, "news.a")
	if subscribes(t, g, "chat.x") {
		t.Fatal("chat.x is allowed before any deploy")
	}

	bad := writeManifest(t, "kind: topics\nrules:\n  - match: chat..x\n    subscribe: 'true'\n")
	out, errOut, code := cli(t, g, "deploy", bad)
	if code == 0 || !strings.Contains(errOut, bad+":3") {
		t.Fatalf("deploy of bad rules: exit %d\n%s%s", code, out, errOut)
	}

	chat := rulesManifest(t, "chat.*")
	if out := mustCLI(t, g, "deploy", chat); !strings.Contains(out, "deployed topic rules version 2 (1 rules)") {
		t.Fatalf("deploy said %q", out)
	}
	if out := mustCLI(t, g, "deploy", chat); !strings.Contains(out, "topic rules unchanged at version 2") {
		t.Fatalf("the same deploy again said %q", out)
	}
	expectUnsubscribed(t, reader, "news.a")
	chatter := subscribed(t, g, "chat.x")
	if subscribes(t, g, "news.b") {
		t.Fatal("news.b is allowed after the rules that forbid it")
	}

	if out := mustCLI(t, g, "rollback", "--topics"); !strings.Contains(out, "topic rules rolled back to version 1") {
		t.Fatalf("rollback said %q", out)
	}
	expectUnsubscribed(t, chatter, "chat.x")
	if !subscribes(t, g, "news.b") || subscribes(t, g, "chat.y") {
		t.Fatal("after the rollback, news.b is not allowed or chat.y is")
	}
	if _, errOut, code := cli(t, g, "rollback", "--topics"); code == 0 || !strings.Contains(errOut, "no previous version") {
		t.Fatalf("rollback past the first version: exit %d %s", code, errOut)
	}

	// The admin API takes the YAML of one file too, and says what is wrong with it, by line.
	r := g.admin(t, "PUT", "/admin/v1/topics?file=raw.yaml", []byte("kind: topics\nrules:\n  - match: raw..x\n"))
	if r.Status != 400 || !strings.Contains(string(r.Body), `"invalid_manifest"`) || !strings.Contains(string(r.Body), "raw.yaml:3") {
		t.Fatalf("PUT of bad YAML: %d %s", r.Status, r.Body)
	}
	r = g.admin(t, "PUT", "/admin/v1/topics?file=fn.yaml", []byte("name: x\nhandler: ./x\n"))
	if r.Status != 400 || !strings.Contains(string(r.Body), "no kind: topics document") {
		t.Fatalf("PUT of a file without topics: %d %s", r.Status, r.Body)
	}
	r = g.admin(t, "PUT", "/admin/v1/topics?ifVersion=7", []byte("kind: topics\nrules:\n  - match: raw.x\n"))
	if r.Status != 409 || !strings.Contains(string(r.Body), "version_conflict") {
		t.Fatalf("PUT if version 7: %d %s", r.Status, r.Body)
	}

	// Deploy chat again (version 3): a restart without manifests keeps it.
	mustCLI(t, g, "deploy", chat)
	g.stop()
	if err := g.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	g = restartGateway(t, g)
	if v := rulesVersion(t, g); v != 3 {
		t.Fatalf("after the restart the rules are version %d, want 3", v)
	}
	if !subscribes(t, g, "chat.z") || subscribes(t, g, "news.c") {
		t.Fatal("after the restart, chat.z is not allowed or news.c is")
	}
	var view struct {
		Versions []int `json:"versions"`
		Files    []struct {
			File string `json:"file"`
		} `json:"files"`
	}
	if err := json.Unmarshal(g.admin(t, "GET", "/admin/v1/topics", nil).Body, &view); err != nil ||
		len(view.Files) != 1 || view.Files[0].File != chat || len(view.Versions) != 3 {
		t.Fatalf("GET /admin/v1/topics: %+v %v", view, err)
	}
}

// TestTopicRulesDeployCluster: three nodes on one registry. A's start-up rules are added to
// the empty registry, B's differ and lose (one warning names the command that would deploy
// them); rules deployed through A allow a subscribe on B, and an existing subscription on C
// that the new rules forbid is ended. B restarted with its old manifest does not undo them.
func TestTopicRulesDeployCluster(t *testing.T) {
	args, _ := registryCluster(t)
	news := rulesManifest(t, "news.*")
	a := startGateway(t, "", append(args, "--node-id", "a", "--manifests", news)...)
	other := rulesManifest(t, "other.*")
	b := startGateway(t, "", append(args, "--node-id", "b", "--manifests", other)...)
	c := startGateway(t, "", append(args, "--node-id", "c")...)
	for _, g := range []*gateway{a, b, c} {
		if v := rulesVersion(t, g); v != 1 {
			t.Fatalf("%s: the registry's rules are version %d, want 1 (a's)", g.Addr, v)
		}
	}
	logs := b.logs.String()
	if strings.Count(logs, "start-up topic rules differ from the deployed ones") != 1 ||
		!strings.Contains(logs, `"deploy_with":"edgefn deploy `+other+`"`) {
		t.Errorf("b's log does not name its rules once with the command that deploys them:\n%s", logs)
	}
	// C started without manifests uses the registry's rules.
	reader := subscribed(t, c, "news.a")
	if subscribes(t, b, "chat.x") || subscribes(t, b, "other.x") {
		t.Fatal("b allows chat.x or other.x before the deploy")
	}

	chat := rulesManifest(t, "chat.*")
	// The deploy waits until every node uses the new rules: b allows chat.x at once after it.
	out := mustCLI(t, a, "deploy", chat)
	if !strings.Contains(out, "deployed topic rules version 2") || strings.Count(out, ": ok\n") != 3 {
		t.Fatalf("deploy through a said %q", out)
	}
	if !subscribes(t, b, "chat.x") {
		t.Fatal("b refuses chat.x after the deploy that allows it reached every node")
	}
	expectUnsubscribed(t, reader, "news.a")

	// B restarts with its old start-up manifest: the registry's rules stay.
	b.stop()
	if err := b.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b = restartGateway(t, b, append(args, "--node-id", "b", "--manifests", other)...)
	if v := rulesVersion(t, b); v != 2 || !subscribes(t, b, "chat.y") || subscribes(t, b, "other.y") {
		t.Fatalf("b restarted with an old manifest: rules version %d, or chat.y refused, or other.y allowed", v)
	}

	// A rollback through C reaches A.
	if out := mustCLI(t, c, "rollback", "--topics"); strings.Count(out, ": ok\n") != 3 {
		t.Fatalf("rollback through c said %q", out)
	}
	if !subscribes(t, a, "news.b") {
		t.Fatal("a refuses news.b after the rollback reached every node")
	}
}
