package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// logTime is the time of the test's log lines, as the server sends it and as logs prints it.
var logTime = time.Date(2026, 3, 1, 10, 4, 5, 123_000_000, time.UTC)

func logTimeText() string { return logTime.Local().Format("15:04:05.000") }

func TestLogs(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello/logs",
		answer: func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.RawQuery; q != "tail=100" {
				t.Errorf("query %q, want tail=100", q)
			}
			_, _ = io.WriteString(w,
				`{"seq":1,"time":"2026-03-01T10:04:05.123Z","stream":"stderr","text":"starting"}`+"\n"+
					"\n"+
					`{"seq":2,"time":"2026-03-01T10:04:05.123Z","stream":"stdout","text":"hello\n"}`+"\n")
		},
	})
	res := runCLI(t, "logs", "hello", "--server", url)
	ts := logTimeText()
	wantOutput(t, res, exitOK, ts+" stderr starting\n"+ts+" stdout hello\n")
}

// A cluster's lines carry their node, which logs prints before the stream.
func TestLogsOfACluster(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello/logs",
		answer: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w,
				`{"seq":7,"time":"2026-03-01T10:04:05.123Z","stream":"stdout","text":"from a","node":"node-a"}`+"\n"+
					`{"seq":3,"time":"2026-03-01T10:04:05.123Z","stream":"stderr","text":"from b","node":"node-b"}`+"\n")
		},
	})
	res := runCLI(t, "logs", "hello", "--server", url)
	ts := logTimeText()
	wantOutput(t, res, exitOK, ts+" node-a stdout from a\n"+ts+" node-b stderr from b\n")
}

func TestLogsFollowEndsCleanlyOnInterrupt(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello/logs",
		answer: func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.RawQuery; q != "follow=true&tail=5" {
				t.Errorf("query %q, want follow=true&tail=5", q)
			}
			_, _ = io.WriteString(w, `{"seq":1,"time":"2026-03-01T10:04:05.123Z","stream":"stdout","text":"one"}`+"\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a follow never ends on its own
		},
	})
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli{ctx: ctx}.runTo(&stdout, &stderr, "logs", "hello", "--server", url, "-f", "--tail", "5")
	}()

	want := logTimeText() + " stdout one\n"
	deadline := time.Now().Add(10 * time.Second)
	for stdout.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("stdout %q, want %q", stdout.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	interrupt()
	select {
	case code := <-done:
		if code != exitOK || stderr.String() != "" {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs --follow did not end on interrupt")
	}
}

func TestLogsBadLine(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello/logs",
		answer: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "not json\n") },
	})
	res := runCLI(t, "logs", "hello", "--server", url)
	if res.code != exitError || !strings.HasPrefix(res.stderr, "edgefn: logs hello: decode line: ") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}
