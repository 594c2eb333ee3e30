package main

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestErrorWithDetails(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello",
		answer: answerJSON(http.StatusBadRequest, `{"error":{"code":"invalid_manifest",`+
			`"message":"2 manifest errors","requestId":"r1","details":[`+
			`"hello.yaml:3: timeout: must be a duration","hello.yaml:9: triggers[0].http.method: unknown"]}}`),
	})
	res := runCLI(t, "get", "hello", "--server", url)
	wantOutput(t, res, exitError, "")
	want := "edgefn: 2 manifest errors\n" +
		"edgefn: hello.yaml:3: timeout: must be a duration\n" +
		"edgefn: hello.yaml:9: triggers[0].http.method: unknown\n"
	if res.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", res.stderr, want)
	}
}

func TestErrorWithoutJSON(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions",
		answer: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream down\nmore", http.StatusBadGateway)
		},
	})
	res := runCLI(t, "list", "--server", url)
	wantOutput(t, res, exitError, "")
	if want := "edgefn: 502 Bad Gateway: upstream down\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
}

func TestDecodeErrorKeepsFields(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/nope",
		answer: answerJSON(http.StatusNotFound, `{"error":{"code":"not_found","message":"function \"nope\" is not deployed","requestId":"abc"}}`),
	})
	c, err := newClientFor(url)
	if err != nil {
		t.Fatal(err)
	}
	err = c.getJSON(t.Context(), functionPath("nope"), new(functionInfo))
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *apiError", err, err)
	}
	if ae.Status != 404 || ae.Code != "not_found" || ae.RequestID != "abc" || ae.Error() != `function "nope" is not deployed` {
		t.Errorf("got %+v", ae)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	res := runCLI(t, "list", "--server", addr)
	want := "edgefn: cannot reach edgefn at " + addr + ": is it running? (edgefn serve)\n"
	wantOutput(t, res, exitError, "")
	if res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":     "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":    "http://127.0.0.1:8080",
		"localhost:9000":            "http://localhost:9000",
		"https://edge.example/api/": "https://edge.example/api",
	} {
		got, err := serverURL(in)
		if err != nil || got != want {
			t.Errorf("serverURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ftp://x", "http://", "http://[::1"} {
		if _, err := serverURL(in); err == nil {
			t.Errorf("serverURL(%q) accepted", in)
		}
	}
}

func TestFunctionPathEscapes(t *testing.T) {
	if got, want := functionPath("a/b c", "invoke"), "/admin/v1/functions/a%2Fb%20c/invoke"; got != want {
		t.Errorf("functionPath = %q, want %q", got, want)
	}
	if !strings.HasPrefix(functionPath("x"), adminPrefix) {
		t.Error("functionPath does not start with the admin prefix")
	}
}

// newClientFor is a client of the server at url with no token.
func newClientFor(url string) (*client, error) {
	base, err := serverURL(url)
	if err != nil {
		return nil, err
	}
	return &client{base: base, http: &http.Client{}}, nil
}
