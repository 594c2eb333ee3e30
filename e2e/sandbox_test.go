package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// sandboxManifests are a victim with a secret and an attacker (testfn's attack op); %s is
// the attacker's extra fields.
const sandboxManifests = `
name: victim
handler: {{testfn}}
env: {API_KEY: victim-secret}
triggers:
  - http: {method: GET, path: "/victim/{op}"}
---
name: attacker
handler: {{testfn}}
%s
triggers:
  - http: {method: GET, path: "/attacker/{op}"}
`

// pluginPID returns the pid of the gateway's plugin process whose environment holds marker.
func pluginPID(t *testing.T, g *gateway, marker string) int {
	t.Helper()
	var pid int
	testkit.Eventually(t, 10*time.Second, "the plugin process with "+marker, func() bool {
		plugins, _ := children(g.cmd.Process.Pid)
		for _, p := range plugins {
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p))
			if bytes.Contains(env, []byte(marker)) {
				pid = p
				return true
			}
		}
		return false
	})
	return pid
}

// attack has the attacker try the steps of a hostile function against the gateway and the victim.
func attack(t *testing.T, g *gateway, victim int) map[string]string {
	t.Helper()
	r := do(t, "GET", fmt.Sprintf("%s/attacker/attack?gw=%d&sibling=%d&data=%s&victim=victim",
		g.URL, g.cmd.Process.Pid, victim, g.DataDir), nil)
	if r.Status != 200 {
		t.Fatalf("attack: %d %s", r.Status, r.Body)
	}
	var got map[string]string
	r.JSON(t, &got)
	return got
}

var attackSteps = []string{"gatewayEnviron", "siblingEnviron", "siblingManifest", "replaceBinary", "signalGateway"}

// TestSandboxStopsAHostileFunction: a function cannot read the gateway's or a sibling's
// environment, read or write --data-dir, replace a sibling's binary or signal the gateway;
// the gateway and the sibling keep serving.
func TestSandboxStopsAHostileFunction(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, fmt.Sprintf(sandboxManifests, "")))
	testkit.Eventually(t, 5*time.Second, "serve to say how plugins are confined", func() bool {
		return strings.Contains(g.logs.String(), `"msg":"sandbox","isolation":"a uid of its own, pid and mount namespaces`)
	})
	victim := pluginPID(t, g, "API_KEY=victim-secret")
	got := attack(t, g, victim)
	for _, step := range attackSteps {
		if got[step] == "" {
			t.Errorf("%s worked", step)
		}
	}
	t.Logf("what the attacker got: %v", got)
	if r := do(t, "GET", g.URL+"/victim/echo", nil); r.Status != 200 {
		t.Errorf("victim after the attack: %d %s", r.Status, r.Body)
	}
	// The victim's own binary is what it restarts with.
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the victim back", func() bool {
		r, err := tryDo("GET", g.URL+"/victim/info", nil)
		return err == nil && r.Status == 200 && pluginPID(t, g, "API_KEY=victim-secret") != victim
	})
	var info struct{ Sandbox, StartError string }
	g.admin(t, "GET", "/admin/v1/functions/victim", nil).JSON(t, &info)
	if !strings.HasPrefix(info.Sandbox, "a uid of its own") || !strings.Contains(info.Sandbox, "limits: cgroup") || info.StartError != "" {
		t.Errorf("get victim: sandbox %q, start error %q", info.Sandbox, info.StartError)
	}
}

// TestUnsandboxedFunctionCanAttack: with `sandbox: off` the same attempts work, so the sandbox
// is what stops them; and the victim's replaced binary is refused at its next start.
func TestUnsandboxedFunctionCanAttack(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, fmt.Sprintf(sandboxManifests, "sandbox: off")))
	testkit.Eventually(t, 5*time.Second, "the warning about sandbox: off", func() bool {
		return strings.Contains(g.logs.String(), `function runs unconfined: its manifest says sandbox: off","function":"attacker"`)
	})
	victim := pluginPID(t, g, "API_KEY=victim-secret")
	got := attack(t, g, victim)
	for _, step := range attackSteps {
		if got[step] != "" {
			t.Errorf("%s failed unconfined: %s", step, got[step])
		}
	}
	// The victim dies; its binary is now the attacker's, and is not started.
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var info struct{ StartError string }
	testkit.Eventually(t, 20*time.Second, "get victim to show the refused start", func() bool {
		g.admin(t, "GET", "/admin/v1/functions/victim", nil).JSON(t, &info)
		return strings.Contains(info.StartError, "binary changed since its deploy")
	})
	handler := filepath.Join(g.DataDir, "functions", "victim", "v1", "handler")
	if !strings.Contains(info.StartError, handler) {
		t.Errorf("start error %q does not name %s", info.StartError, handler)
	}
	// The log line follows the start's failure: get may show it first.
	testkit.Eventually(t, 5*time.Second, "the log to say why the victim did not start", func() bool {
		return strings.Contains(g.logs.String(), `"msg":"plugin restart failed","function":"victim"`) &&
			strings.Contains(g.logs.String(), "binary changed since its deploy")
	})
	if r := do(t, "GET", g.URL+"/victim/info", nil); r.Status == 200 {
		t.Errorf("the replaced binary answered: %s", r.Body)
	}
}

// TestMemoryLimitKillsAndRestarts: a process over its memory limit is killed, restarted like
// a crash, and the restart counter says why.
func TestMemoryLimitKillsAndRestarts(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
limits: {memory: 64Mi}
triggers:
  - http: {method: GET, path: "/t/{op}"}
`))
	if r := do(t, "GET", g.URL+"/t/alloc?mb=8", nil); r.Status != 200 {
		t.Fatalf("within the limit: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", g.URL+"/t/alloc?mb=256", nil); r.Status != 502 {
		t.Fatalf("over the limit: %d %s, want 502 (the process was killed)", r.Status, r.Body)
	}
	testkit.Eventually(t, 20*time.Second, "restarts_total{reason=memory} 1", func() bool {
		v, ok := series(scrape(t, g), "edgefn_plugin_restarts_total", map[string]string{"function": "t", "reason": "memory"})
		return ok && v == 1
	})
	if v, ok := series(scrape(t, g), "edgefn_plugin_restarts_total", map[string]string{"function": "t", "reason": "crash"}); !ok || v != 0 {
		t.Errorf("restarts_total{reason=crash} = %v, %v; want 0", v, ok)
	}
	testkit.Eventually(t, 20*time.Second, "the function back", func() bool {
		r, err := tryDo("GET", g.URL+"/t/echo", nil)
		return err == nil && r.Status == 200
	})
}
