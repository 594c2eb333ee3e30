package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Check is a request that must get the given answer before a server counts as ready.
type Check struct {
	// Path is requested with GET, such as "/healthz".
	Path string
	// Status is the expected status code.
	Status int
	// Body, when not empty, is the exact expected body.
	Body string
}

// Server is one server process started for a measurement. Its stdout and stderr are kept,
// up to a bound, to explain a failure.
type Server struct {
	// Name says what the server is in messages ("edgefn", "rawfiber").
	Name string
	// Addr is the loopback address it listens on, and URL is "http://" + Addr.
	Addr, URL string

	cmd     *exec.Cmd
	output  *tailBuffer
	done    chan struct{}
	exitErr error
}

// StartServer runs bin with args, in which every "{addr}" stands for a free loopback address,
// and waits (up to 60 s or ctx) until every check gets its answer.
func StartServer(ctx context.Context, name, bin string, args []string, checks ...Check) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := make([]string, len(args))
	for i, a := range args {
		argv[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	s := &Server{Name: name, Addr: addr, URL: "http://" + addr, output: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, argv...)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	bindToParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.done) }()
	if err := s.WaitReady(ctx, 10*time.Millisecond, checks...); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Pid is the server process's ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Output returns the last 64 KiB the server wrote.
func (s *Server) Output() string { return s.output.String() }

// Stop sends SIGTERM and waits for the process to exit, killing it after 15 s.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// WaitReady asks each check in turn, every interval, until it gets its answer; it fails when
// the server exits first or 60 s (or ctx) pass.
func (s *Server) WaitReady(ctx context.Context, interval time.Duration, checks ...Check) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for _, c := range checks {
		for {
			if last = s.check(ctx, client, c); last == nil {
				break
			}
			select {
			case <-s.done:
				return fmt.Errorf("%s exited before it was ready: %v\n%s", s.Name, s.exitErr, s.Output())
			case <-ctx.Done():
				return fmt.Errorf("%s not ready: %w\n%s", s.Name, last, s.Output())
			case <-time.After(interval):
			}
		}
	}
	return nil
}

func (s *Server) check(ctx context.Context, client *http.Client, c Check) error {
	status, body, err := Call(ctx, client, http.MethodGet, s.URL+c.Path, 1<<20)
	if err != nil {
		return err
	}
	if status != c.Status || c.Body != "" && string(body) != c.Body {
		return fmt.Errorf("GET %s: %d %q, want %d %q", c.Path, status, body, c.Status, c.Body)
	}
	return nil
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
