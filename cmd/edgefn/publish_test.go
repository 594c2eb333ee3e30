package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

func TestPublishWithDelay(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPost, path: "/admin/v1/publish",
		answer: func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req struct{ Queue, Delay string }
			if err := json.Unmarshal(body, &req); err != nil || req.Queue != "reminders" || req.Delay != "10m0s" {
				t.Errorf("request %s, want queue reminders and delay 10m0s", body)
			}
			answerJSON(http.StatusOK, `{"id":"m-1"}`)(w, r)
		},
	})
	res := runCLI(t, "publish", "--queue", "reminders", "--delay", "10m", "--data", `{"n":1}`, "--server", url)
	wantOutput(t, res, exitOK, "published m-1, delivered in 10m0s\n")
}

func TestPublishDelayUsage(t *testing.T) {
	wantOutput(t, runCLI(t, "publish", "--stream", "s", "--delay", "1s", "--data", "{}"), exitUsage, "", "--delay is for --queue only")
	wantOutput(t, runCLI(t, "publish", "--queue", "q", "--delay", "-1s", "--data", "{}"), exitUsage, "", "--delay must not be negative")
}
