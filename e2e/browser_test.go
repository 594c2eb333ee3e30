package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/edgefn/edgefn/internal/testkit"
)

// TestBrowserWebSocketDemo drives the demo page of examples/web (what `make run` serves) in
// headless Chromium against the real binary with manifests/web.yaml: the page's edgefn.js
// subscribes over /ws, shows what POST /notify/demo notifies, counts what is typed with
// notify's rpc chat.check, publishes chat messages that the notify function vets, resumes with
// exactly what it missed after its connection dropped, and after a gateway restart reconnects
// by itself and says what it could not recover; bytes that are not UTF-8, sent to its topics
// by another client or the admin API, never reach it.
func TestBrowserWebSocketDemo(t *testing.T) {
	chrome := findChromium(t)
	g := startGateway(t, "", "--manifests", webManifest(t),
		"--static", filepath.Join(bins.repoDir, "examples", "web"))
	waitFunctionsReady(t, g)

	ctx, console := newBrowser(t, chrome)
	defer func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", console.String())
		}
	}()
	page := &demoPage{t: t, ctx: ctx}

	// The page subscribes to news.demo and chat.lobby and says "live".
	page.do(chromedp.Navigate(g.URL + "/"))
	page.waitState("live")

	// A notification from an HTTP call reaches the page.
	notifyDemo(t, g, "first news")
	page.waitTexts("news", "first news")

	// A chat message typed into the page goes through notify's websocket trigger and back to
	// every subscriber, this page included; one that notify refuses comes back as an error.
	// As it is typed, the page calls the rpc chat.check of notify, which counts the characters
	// (the latest call's answer shows) or says why the room would refuse the message.
	page.do(chromedp.SendKeys(chromedp.CSS("#chat-text"), "hi from chromium"))
	page.poll(`document.querySelector("#chat-count").textContent === "16/500"`, "the rpc chat.check's count")
	page.do(chromedp.Click(chromedp.CSS("#chat-send")))
	page.waitTexts("chat", "hi from chromium")
	page.do(chromedp.SendKeys(chromedp.CSS("#chat-text"), "   "))
	page.poll(`document.querySelector("#chat-count").textContent === "text is required"`, "the rpc chat.check's refusal")
	page.eval(`window.edgefnClient.rpc("chat.nothing", {}).catch((err) => { window.rpcError = err.code; }); undefined`)
	page.poll(`window.rpcError === "not_found"`, "an rpc of a method no function serves")
	page.do(chromedp.Click(chromedp.CSS("#chat-send")))
	page.poll(`document.querySelector("#chat-error").textContent.includes("text is required")`,
		"the refused chat message's error")

	// An async call answered before the page subscribes to its requests.{id}: the reply comes
	// with the subscribe reply, and the client library hands it over like any publication.
	body, _ := json.Marshal(map[string]string{"text": "async news"})
	r := do(t, "POST", g.URL+"/notify/demo", body, "Content-Type", "application/json", "Prefer", "respond-async")
	var acc struct{ ID, Topic string }
	r.JSON(t, &acc)
	if r.Status != 202 || acc.Topic != "requests."+acc.ID {
		t.Fatalf("async POST /notify/demo: %d %s", r.Status, r.Body)
	}
	if w := do(t, "GET", g.URL+"/requests/"+acc.ID+"?wait=10s", nil); w.Header.Get("Edgefn-Request-State") != "done" {
		t.Fatalf("the async call's reply: %d %s (state %q)", w.Status, w.Body, w.Header.Get("Edgefn-Request-State"))
	}
	page.eval(`window.edgefnClient.subscribe("` + acc.Topic + `", (d) => { window.asyncReply = d; }); undefined`)
	page.poll(`window.asyncReply && window.asyncReply.status === "done" && window.asyncReply.statusCode === 202`,
		"the async reply delivered with the subscribe reply")
	page.waitTexts("news", "first news", "async news")

	// The connection drops; what is notified meanwhile arrives once, in order, when the client
	// resumes (recovered from the topic's history), and live publications follow.
	page.eval(`window.edgefnClient.disconnect()`)
	page.waitNotState("live")
	notifyDemo(t, g, "missed one")
	notifyDemo(t, g, "missed two")
	page.eval(`window.edgefnClient.connect()`)
	page.waitState("live")
	page.waitTexts("news", "first news", "async news", "missed one", "missed two")
	notifyDemo(t, g, "after the gap")
	page.waitTexts("news", "first news", "async news", "missed one", "missed two", "after the gap")
	if got := page.texts(`#news li[data-recovered="true"] .text`); strings.Join(got, "|") != "missed one|missed two" {
		t.Fatalf("recovered publications %q, want the two missed ones", got)
	}
	if n := strings.Join(page.texts(`#notice`), ""); n != "" {
		t.Fatalf("the page says it missed publications: %q", n)
	}

	// The gateway restarts: the page hears 1001, reconnects by itself to the new process, and
	// since that one's topics start a new epoch, says that it may have missed publications
	// (onRecoveryFailed) instead of pretending it has them all. New publications arrive.
	stopped := make(chan struct{})
	go func() { g.stop(); close(stopped) }()
	page.poll(`document.querySelector("#state").dataset.closeCode === "1001"`, "the page to hear 1001")
	<-stopped
	g = restartGateway(t, g, "--manifests", webManifest(t),
		"--static", filepath.Join(bins.repoDir, "examples", "web"))
	waitFunctionsReady(t, g)
	// The page retries with backoff (up to 10 s apart) while the gateway restarts.
	page.pollWithin(`document.querySelector("#state").dataset.state === "live"`, "the page to reconnect", 20*time.Second)
	page.poll(`document.querySelector("#notice").textContent !== ""`, "the page to say it missed publications")
	notifyDemo(t, g, "after the restart")
	page.waitTexts("news", "first news", "async news", "missed one", "missed two", "after the gap", "after the restart")

	// Another client's publish that is not UTF-8, on the page's chat.lobby, is refused (1007),
	// and so is an admin publish of such bytes to news.demo: the page, which a frame that is not
	// UTF-8 would disconnect, stays connected (no state change at all) and gets what follows.
	page.eval(`window.statesSeen = [];
		new MutationObserver(() => window.statesSeen.push(document.querySelector("#state").dataset.state))
			.observe(document.querySelector("#state"), {attributes: true}); undefined`)
	bad := dialWS(t, wsURL(g, ""), nil)
	bad.sendRaw("{\"id\":1,\"op\":\"publish\",\"topic\":\"chat.lobby\",\"data\":{\"text\":\"\xff\xfe\"}}")
	if code := bad.closed(10 * time.Second); code != 1007 {
		t.Fatalf("a publish that is not UTF-8: close %d (%v), want 1007", code, bad.err())
	}
	if r := g.admin(t, "POST", "/admin/v1/publish", []byte("{\"topic\":\"news.demo\",\"data\":{\"text\":\"\xc0\xaf\"}}"),
		"Content-Type", "application/json"); r.Status != 400 {
		t.Fatalf("an admin publish that is not UTF-8: %d %s, want 400", r.Status, r.Body)
	}
	notifyDemo(t, g, "after the bad bytes")
	page.waitTexts("news", "first news", "async news", "missed one", "missed two", "after the gap", "after the restart",
		"after the bad bytes")
	page.poll(`window.statesSeen.length === 0 && document.querySelector("#state").dataset.state === "live"`,
		"the page to have stayed connected")
}

// waitFunctionsReady waits until g's /readyz says every function is ready.
func waitFunctionsReady(t *testing.T, g *gateway) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, "the gateway to be ready", func() bool {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		return err == nil && r.Status == 200
	})
}

// findChromium returns the path of a Chromium or Chrome, skipping loudly when there is none
// (and failing under CI, which installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "CHROMIUM NOT FOUND (chromium, chromium-browser or google-chrome on PATH; apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("!!! SKIPPED: " + msg)
	return ""
}

// webManifest is manifests/web.yaml, as shipped, with the handler the tests built.
func webManifest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bins.repoDir, "manifests", "web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const handler = "handler: ../bin/functions/notify"
	if !strings.Contains(string(b), handler) {
		t.Fatalf("manifests/web.yaml has no %q", handler)
	}
	return writeManifest(t, strings.Replace(string(b), handler, "handler: {{notify}}", 1))
}

// newBrowser starts headless Chromium with one tab for the test. The console collects what
// the page logs.
func newBrowser(t *testing.T, chrome string) (context.Context, *testkit.SyncBuffer) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("start %s: %v", chrome, err)
	}
	console := &testkit.SyncBuffer{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(console, "%s:%d %s\n", m.URL, m.Line+1, m)
		}
	}()
	return ctx, console
}

// notifyDemo POSTs text to /notify/demo, as the page's form does.
func notifyDemo(t *testing.T, g *gateway, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text})
	r := do(t, "POST", g.URL+"/notify/demo", body, "Content-Type", "application/json")
	if r.Status != 202 || strings.TrimSpace(string(r.Body)) != `{"topic":"news.demo"}` {
		t.Fatalf("POST /notify/demo: %d %s", r.Status, r.Body)
	}
}

// demoPage drives examples/web/index.html. Every wait has a deadline.
type demoPage struct {
	t   *testing.T
	ctx context.Context
}

const pageWait = 10 * time.Second

func (p *demoPage) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func (p *demoPage) eval(js string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](js))
}

// poll waits until the JavaScript expression is true.
func (p *demoPage) poll(js, what string) {
	p.t.Helper()
	p.pollWithin(js, what, pageWait)
}

func (p *demoPage) pollWithin(js, what string, d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		p.t.Fatalf("waiting for %s: %v (state %q, news %q, chat %q)", what, err,
			p.state(), p.texts("#news li .text"), p.texts("#chat li .text"))
	}
}

func (p *demoPage) waitState(state string) {
	p.t.Helper()
	p.poll(fmt.Sprintf(`document.querySelector("#state").dataset.state === %q`, state), "state "+state)
}

func (p *demoPage) waitNotState(state string) {
	p.t.Helper()
	p.poll(fmt.Sprintf(`document.querySelector("#state").dataset.state !== %q`, state), "a state other than "+state)
}

// waitTexts waits until the list #id shows exactly the texts, in order.
func (p *demoPage) waitTexts(id string, texts ...string) {
	p.t.Helper()
	want, _ := json.Marshal(texts)
	p.poll(fmt.Sprintf(`JSON.stringify([...document.querySelectorAll("#%s li .text")].map((e) => e.textContent)) === %q`,
		id, want), fmt.Sprintf("#%s to show %s", id, want))
}

// texts returns the text of every element the selector matches.
func (p *demoPage) texts(selector string) []string {
	ctx, cancel := context.WithTimeout(p.ctx, pageWait)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.textContent)`, selector)))
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	return got
}

func (p *demoPage) state() string {
	got := p.texts("#state")
	if len(got) == 0 {
		return ""
	}
	return got[0]
}
