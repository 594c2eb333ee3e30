package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
	"github.com/edgefn/edgefn/runtime"
)

// fnName is the scaffolded function's name, and so its route, /fnName.
const fnName = "devfn"

// scaffold runs `edgefn new` into a fresh folder under bench/cmd/devbench/testdata in repo
// (inside the checkout, so the function builds against it; `go build ./...` skips testdata)
// and returns the function's folder and the function that removes it.
func scaffold(ctx context.Context, edgefn, repo string) (string, func(), error) {
	parent := filepath.Join(repo, "bench", "cmd", "devbench", "testdata")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(parent, "fn-")
	if err != nil {
		return "", nil, err
	}
	remove := func() {
		os.RemoveAll(dir)
		os.Remove(parent) // only when empty
	}
	fnDir := filepath.Join(dir, fnName)
	out, err := exec.CommandContext(ctx, edgefn, "new", fnName, "--dir", fnDir).CombinedOutput()
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("edgefn new: %w\n%s", err, out)
	}
	return fnDir, remove, nil
}

// greeting is the handler's answer for ?name=x when its greeting word is word.
func greeting(word string) string { return `{"message":"` + word + `, x"}` }

// setGreeting rewrites main.go in fnDir so that the handler greets with word instead of
// whatever it greeted with.
func setGreeting(fnDir, word string) error {
	path := filepath.Join(fnDir, "main.go")
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`Message: "[^"]*, " \+ name`)
	if !re.Match(src) {
		return fmt.Errorf("%s: no greeting to edit", path)
	}
	return os.WriteFile(path, re.ReplaceAll(src, []byte(`Message: "`+word+`, " + name`)), 0o644)
}

// baselineResult is the go build of an edit by itself, and the plugin's size.
type baselineResult struct {
	builds []time.Duration
	size   int64
}

// baseline times -edits builds of an edit with runtime.Build, the build `edgefn dev` runs,
// after one untimed build that fills the build cache.
func baseline(ctx context.Context, o options, r *harness.Run, fnDir string) (baselineResult, error) {
	var res baselineResult
	out := filepath.Join(r.Tmp, "baseline-plugin")
	r.Logf("baseline: go build of an edit by itself")
	if err := runtime.Build(ctx, fnDir, out); err != nil {
		return res, err
	}
	for n := 1; n <= o.edits; n++ {
		if err := r.WaitTurn(ctx); err != nil {
			return res, err
		}
		if err := setGreeting(fnDir, fmt.Sprintf("base-%d", n)); err != nil {
			return res, err
		}
		start := time.Now()
		if err := runtime.Build(ctx, fnDir, out); err != nil {
			return res, err
		}
		res.builds = append(res.builds, time.Since(start))
	}
	info, err := os.Stat(out)
	if err != nil {
		return res, err
	}
	res.size = info.Size()
	return res, nil
}

// session is the gateway and `edgefn dev` watching the function.
type session struct {
	srv   *harness.Server
	dev   *exec.Cmd
	fnDir string
	url   string
	http  *http.Client
	// lines carries dev's output lines; tail keeps the last ones for errors.
	lines   chan string
	mu      sync.Mutex
	tail    []string
	devDone chan struct{}
	// first is dev's first deploy, a cold build.
	first time.Duration
}

// startSession starts the gateway and `edgefn dev` on the function in fnDir, and waits for
// dev's first deploy (a cold build of a new package).
func startSession(ctx context.Context, edgefn, fnDir, tmp string) (*session, error) {
	srv, err := harness.Serve{Edgefn: edgefn, Dir: tmp}.Start(ctx, harness.Check{Path: "/healthz", Status: 200})
	if err != nil {
		return nil, err
	}
	s := &session{srv: srv, fnDir: fnDir, url: srv.URL + "/" + fnName + "?name=x",
		http: &http.Client{Timeout: 5 * time.Second}, lines: make(chan string, 64), devDone: make(chan struct{})}
	s.dev = exec.Command(edgefn, "dev", filepath.Join(fnDir, fnName+".yaml"), "--server", srv.URL, "--token", harness.AdminToken)
	pipe, err := s.dev.StdoutPipe()
	if err != nil {
		srv.Stop()
		return nil, err
	}
	s.dev.Stderr = s.dev.Stdout
	if err := s.dev.Start(); err != nil {
		srv.Stop()
		return nil, err
	}
	go s.read(pipe)
	if _, err := s.deployLine(ctx, 5*time.Minute); err != nil {
		s.stop()
		return nil, fmt.Errorf("first deploy: %w\n%s", err, s.output())
	}
	return s, nil
}

// read passes dev's output on, line by line, until it ends.
func (s *session) read(r io.Reader) {
	defer close(s.devDone)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.tail = append(s.tail, line)
		if len(s.tail) > 50 {
			s.tail = s.tail[1:]
		}
		s.mu.Unlock()
		select {
		case s.lines <- line:
		default: // nobody waits for a line now: the tail keeps it
		}
	}
}

// output is the last lines dev and the gateway wrote.
func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "edgefn dev:\n" + strings.Join(s.tail, "\n") + "\ngateway:\n" + s.srv.Output()
}

// deployRE matches dev's line for a deploy of the function.
var deployRE = regexp.MustCompile(fnName + `: deployed version (\d+) in (\S+) \((?:build (\S+), )?deploy (\S+)\)`)

// devLine is what dev said about one deploy.
type devLine struct {
	total, build, deploy time.Duration
}

// deployLine waits up to d for dev's next deploy line and parses it.
func (s *session) deployLine(ctx context.Context, d time.Duration) (devLine, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return devLine{}, ctx.Err()
		case <-timer.C:
			return devLine{}, fmt.Errorf("no deploy line from edgefn dev in %s", d)
		case <-s.devDone:
			return devLine{}, errors.New("edgefn dev exited")
		case line := <-s.lines:
			if strings.Contains(line, "build failed") || strings.Contains(line, "deploy failed") {
				return devLine{}, errors.New(line)
			}
			m := deployRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var l devLine
			var err error
			if l.total, err = time.ParseDuration(m[2]); err != nil {
				return l, err
			}
			if m[3] != "" {
				if l.build, err = time.ParseDuration(m[3]); err != nil {
					return l, err
				}
			}
			if l.deploy, err = time.ParseDuration(m[4]); err != nil {
				return l, err
			}
			if s.first == 0 {
				s.first = l.total
			}
			return l, nil
		}
	}
}

// editResult is one measured edit.
type editResult struct {
	// live is from the write of main.go to the first response showing the edit; build and
	// deploy are dev's own figures for its rebuild.
	live, build, deploy time.Duration
}

// edit changes the greeting to edit-n and times it until the route answers with it.
func (s *session) edit(ctx context.Context, n int, timeout time.Duration) (editResult, error) {
	word := fmt.Sprintf("edit-%d", n)
	want := greeting(word)
	start := time.Now()
	if err := setGreeting(s.fnDir, word); err != nil {
		return editResult{}, err
	}
	deadline := start.Add(timeout)
	for {
		if body, err := s.get(ctx); err == nil && body == want {
			break
		}
		if time.Now().After(deadline) {
			return editResult{}, fmt.Errorf("%s did not answer %s within %s", s.url, want, timeout)
		}
		if err := ctx.Err(); err != nil {
			return editResult{}, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	live := time.Since(start)
	l, err := s.deployLine(ctx, timeout)
	if err != nil {
		return editResult{}, err
	}
	return editResult{live: live, build: l.build, deploy: l.deploy}, nil
}

// get returns the route's body when it answers 200.
func (s *session) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %v", resp.StatusCode, err)
	}
	return string(body), nil
}

// stop interrupts dev as a user's Ctrl-C does, then stops the gateway.
func (s *session) stop() {
	_ = s.dev.Process.Signal(syscall.SIGINT)
	select {
	case <-s.devDone:
	case <-time.After(15 * time.Second):
		_ = s.dev.Process.Kill()
	}
	_ = s.dev.Wait()
	s.srv.Stop()
}
