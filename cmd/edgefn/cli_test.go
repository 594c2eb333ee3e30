package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgefn/edgefn/internal/testkit"
)

// cliResult is what one in-process run of the CLI printed and returned.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli describes one in-process run: the environment and standard input the command sees.
type cli struct {
	env   map[string]string
	stdin string
	ctx   context.Context
}

// run executes `edgefn args...` in-process and captures its output.
func (c cli) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr testkit.SyncBuffer
	code := c.runTo(&stdout, &stderr, args...)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runTo executes `edgefn args...` in-process, writing to the given streams.
func (c cli) runTo(stdout, stderr *testkit.SyncBuffer, args ...string) int {
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	lookup := func(name string) (string, bool) {
		v, ok := c.env[name]
		return v, ok
	}
	return run(ctx, args, strings.NewReader(c.stdin), stdout, stderr, lookup)
}

// runCLI runs `edgefn args...` with an empty environment and no input.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return cli{}.run(t, args...)
}

// adminCall is what a fake admin API expects of one request and how it answers.
type adminCall struct {
	method, path string
	// token is the expected bearer token; "" expects no Authorization header.
	token string
	// answer writes the response; nil answers 200 with {}.
	answer http.HandlerFunc
}

// fakeAdmin starts an HTTP server that checks every request against want and counts them.
// It answers the node list that deploy, rollback and delete wait on as a server without a
// node registry does (404), unless want is that request.
func fakeAdmin(t *testing.T, want adminCall) (url string, calls func() int) {
	t.Helper()
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin/v1/nodes" && want.path != r.URL.Path {
			// The wait of deploy, rollback and delete: a server without a node registry.
			answerJSON(http.StatusNotFound, `{"error":{"code":"not_found","message":"this server has no node registry"}}`)(w, r)
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
		if r.Method != want.method || r.URL.Path != want.path {
			t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, want.method, want.path)
		}
		wantAuth := ""
		if want.token != "" {
			wantAuth = "Bearer " + want.token
		}
		if got := r.Header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization %q, want %q", got, wantAuth)
		}
		if want.answer == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
			return
		}
		want.answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// answerJSON answers with status and the JSON body.
func answerJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// wantOutput fails the test unless res has the exit code and stdout, and stderr contains
// every one of wantStderr.
func wantOutput(t *testing.T, res cliResult, code int, stdout string, wantStderr ...string) {
	t.Helper()
	if res.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", res.code, code, res.stderr)
	}
	if res.stdout != stdout {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, stdout)
	}
	for _, s := range wantStderr {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("stderr %q does not contain %q", res.stderr, s)
		}
	}
}
