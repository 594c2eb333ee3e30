package main

import (
	"net/http"
	"testing"
)

func TestScheduleCommands(t *testing.T) {
	for _, c := range []struct {
		action, answer, want string
	}{
		{"run", `{"function":"clock","runs":["schedule/clock/0/run-ab12"]}`, "started schedule/clock/0/run-ab12\n"},
		{"pause", `{"function":"clock","paused":true,"schedules":[]}`, "paused the schedules of clock\n"},
		{"resume", `{"function":"clock","paused":false,"schedules":[]}`, "resumed the schedules of clock\n"},
	} {
		t.Run(c.action, func(t *testing.T) {
			url, _ := fakeAdmin(t, adminCall{
				method: http.MethodPost, path: "/admin/v1/functions/clock/schedule/" + c.action, token: "tok",
				answer: answerJSON(http.StatusOK, c.answer),
			})
			wantOutput(t, runCLI(t, "schedule", c.action, "clock", "--server", url, "--token", "tok"), exitOK, c.want)
		})
	}
}

func TestScheduleUnknownAction(t *testing.T) {
	res := runCLI(t, "schedule", "stop", "clock", "--server", "http://127.0.0.1:1")
	if res.code != exitUsage {
		t.Fatalf("exit %d; want %d (usage)\n%s", res.code, exitUsage, res.stderr)
	}
}
