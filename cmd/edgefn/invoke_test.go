package main

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
)

// echoInvoke fakes POST .../invoke: it checks the body and its content type and answers
// with answer.
func echoInvoke(t *testing.T, wantBody, wantType, answer string) string {
	t.Helper()
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPost, path: "/admin/v1/functions/hello/invoke",
		answer: func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if string(body) != wantBody {
				t.Errorf("body %q, want %q", body, wantBody)
			}
			if got := r.Header.Get("Content-Type"); got != wantType {
				t.Errorf("Content-Type %q, want %q", got, wantType)
			}
			_, _ = io.WriteString(w, answer)
		},
	})
	return url
}

func TestInvokeInlineJSON(t *testing.T) {
	url := echoInvoke(t, `{"name":"ada"}`, "application/json", `{"greeting":"hello ada"}`)
	res := runCLI(t, "invoke", "hello", "--server", url, "--data", `{"name":"ada"}`)
	wantOutput(t, res, exitOK, `{"greeting":"hello ada"}`+"\n")
}

func TestInvokeInlineText(t *testing.T) {
	url := echoInvoke(t, "ada", "text/plain; charset=utf-8", "hello ada\n")
	res := runCLI(t, "invoke", "hello", "--server", url, "-d", "ada")
	wantOutput(t, res, exitOK, "hello ada\n")
}

func TestInvokeNoData(t *testing.T) {
	url := echoInvoke(t, "", "", "")
	res := runCLI(t, "invoke", "hello", "--server", url)
	wantOutput(t, res, exitOK, "")
}

func TestInvokeDataFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "event.json")
	writeFile(t, path, "{\"n\": 1}\n")
	url := echoInvoke(t, "{\"n\": 1}\n", "application/json", "ok")
	res := runCLI(t, "invoke", "hello", "--server", url, "--data", "@"+path)
	wantOutput(t, res, exitOK, "ok\n")
}

func TestInvokeDataFromBinaryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob")
	writeFile(t, path, "\x00\x01")
	url := echoInvoke(t, "\x00\x01", "application/octet-stream", "ok")
	res := runCLI(t, "invoke", "hello", "--server", url, "--data", "@"+path)
	wantOutput(t, res, exitOK, "ok\n")
}

func TestInvokeDataFromStdin(t *testing.T) {
	url := echoInvoke(t, `[1,2]`, "application/json", "3")
	res := cli{stdin: `[1,2]`}.run(t, "invoke", "hello", "--server", url, "--data", "@-")
	wantOutput(t, res, exitOK, "3\n")
}

func TestInvokeMissingFile(t *testing.T) {
	res := runCLI(t, "invoke", "hello", "--data", "@/does/not/exist.json")
	wantOutput(t, res, exitError, "", "edgefn: --data @/does/not/exist.json: no such file or directory\n")
}

func TestInvokeFailure(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPost, path: "/admin/v1/functions/hello/invoke",
		answer: answerJSON(http.StatusGatewayTimeout, `{"error":{"code":"timeout","message":"hello did not answer within 5s","requestId":"r"}}`),
	})
	res := runCLI(t, "invoke", "hello", "--server", url)
	wantOutput(t, res, exitError, "", "edgefn: hello did not answer within 5s\n")
}
