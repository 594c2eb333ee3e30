package main

import (
	"net/http"
	"testing"
)

func TestDelete(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodDelete, path: "/admin/v1/functions/hello", token: "tok",
		answer: answerJSON(http.StatusOK, `{"name":"hello","deleted":true}`),
	})
	res := runCLI(t, "delete", "hello", "--server", url, "--token", "tok")
	wantOutput(t, res, exitOK, "deleted hello\n")
}

func TestRollback(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPost, path: "/admin/v1/functions/hello/rollback",
		answer: answerJSON(http.StatusOK, `{"name":"hello","version":2}`),
	})
	res := runCLI(t, "rollback", "hello", "--server", url)
	wantOutput(t, res, exitOK, "hello rolled back to version 2\n")
}

func TestRollbackWithoutPrevious(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPost, path: "/admin/v1/functions/hello/rollback",
		answer: answerJSON(http.StatusConflict, `{"error":{"code":"no_previous","message":"hello has no previous version"}}`),
	})
	res := runCLI(t, "rollback", "hello", "--server", url)
	wantOutput(t, res, exitError, "", "edgefn: hello has no previous version\n")
}
