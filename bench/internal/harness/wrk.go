package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNoWrk says that wrk is missing and how to get it.
var ErrNoWrk = errors.New("wrk is not installed: apt-get install -y wrk (Debian, Ubuntu) or brew install wrk (macOS)")

// LookWrk returns the path of wrk, or ErrNoWrk.
func LookWrk() (string, error) {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", ErrNoWrk
	}
	return p, nil
}

// WrkVersion is the first words of wrk's version line, such as "wrk 4.1.0"; "" when wrk
// does not say.
func WrkVersion(ctx context.Context, path string) string {
	// wrk -v prints its version and usage, and exits 1.
	out, _ := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(line, "wrk ") {
		return ""
	}
	v, _, _ := strings.Cut(line, " [")
	return v
}

// Wrk is one closed-loop throughput run of wrk: Conns connections shared by Threads threads,
// each sending its next request as soon as the previous one is answered.
type Wrk struct {
	// Path is wrk's path; default found on $PATH.
	Path string
	// Threads and Conns are wrk's -t and -c.
	Threads, Conns int
	// Duration is wrk's -d, rounded to seconds.
	Duration time.Duration
}

// WrkResult is what one wrk run reports.
type WrkResult struct {
	// Requests is the number of answered requests, and RPS the rate wrk reports.
	Requests int64
	RPS      float64
	// Non2xx counts answers other than 2xx and 3xx.
	Non2xx int64
	// SocketErrors adds up connect, read, write and timeout errors.
	SocketErrors int64
	// CPU is the CPU time (user and system) wrk itself used.
	CPU time.Duration
	// Output is wrk's report as it printed it.
	Output string
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Run runs wrk against url and parses its report.
func (w Wrk) Run(ctx context.Context, url string) (WrkResult, error) {
	path := w.Path
	if path == "" {
		var err error
		if path, err = LookWrk(); err != nil {
			return WrkResult{}, err
		}
	}
	secs := max(1, int(w.Duration.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, path, "-t"+strconv.Itoa(w.Threads), "-c"+strconv.Itoa(w.Conns),
		"-d"+strconv.Itoa(secs)+"s", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	r, err := parseWrk(string(out))
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, err
}

func parseWrk(out string) (WrkResult, error) {
	r := WrkResult{Output: out}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in its report:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	return r, nil
}
