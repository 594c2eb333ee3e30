package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/gateway"
	"github.com/edgefn/edgefn/runtime"
)

// defaultServer is where the client commands find edgefn when --server is not given.
const defaultServer = "http://127.0.0.1:8080"

// adminPrefix starts every admin API path.
const adminPrefix = "/admin/v1"

// maxErrorBody bounds how much of an error response the client reads.
const maxErrorBody = 1 << 20

// addClientFlags declares --server, --token and --data-dir on root, for every client command.
// `serve` has a --data-dir of its own, which shadows this one.
func addClientFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String("server", defaultServer, "URL of the edgefn server")
	f.String("token", "", "admin token, sent as Authorization: Bearer (default: read from DATA_DIR/"+adminTokenFile+" for a server on this machine)")
	f.String("data-dir", ".edgefn", "--data-dir of a server on this machine, whose admin token is read when --token is not given")
}

// client calls the admin API of one edgefn server.
type client struct {
	// base is the server's URL without a trailing slash, such as http://127.0.0.1:8080.
	base  string
	token string
	http  *http.Client
	// ifVersion, when not 0, is the --if-version of a deploy or rollback.
	ifVersion int
}

// deployerHeader tells the server who deploys (deployer()); a shared registry keeps it.
const deployerHeader = "X-Edgefn-Deployer"

// ifVersionQuery is the query of --if-version, "" without one.
func (c *client) ifVersionQuery() string {
	if c.ifVersion == 0 {
		return ""
	}
	return "?ifVersion=" + strconv.Itoa(c.ifVersion)
}

// newClient builds the client from cmd's --server, --token and --data-dir.
func newClient(cmd *cobra.Command) (*client, error) {
	server, _ := cmd.Flags().GetString("server")
	token, _ := cmd.Flags().GetString("token")
	dataDir, _ := cmd.Flags().GetString("data-dir")
	base, err := serverURL(server)
	if err != nil {
		return nil, err
	}
	if token == "" {
		if token, err = localToken(base, dataDir); err != nil {
			return nil, err
		}
	}
	// No client timeout: deploys build and start plugins, invocations run as long as the
	// function allows, and log follows never end. The command's context bounds them all.
	return &client{base: base, token: token, http: &http.Client{}}, nil
}

// localToken is the admin token that `serve` generated into dataDir, when the server at base
// is on this machine (a loopback address or localhost) and the file exists; "" otherwise.
// The token of this machine's server is never sent to another machine.
func localToken(base, dataDir string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil
	}
	token, err := readAdminTokenFile(filepath.Join(dataDir, adminTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return token, err
}

// serverURL checks the --server value and normalises it: http:// when no scheme is given,
// no trailing slash.
func serverURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("--server %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("--server %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// functionPath is the admin path of the function name, with more path segments appended.
func functionPath(name string, more ...string) string {
	p := adminPrefix + "/functions/" + url.PathEscape(name)
	for _, m := range more {
		p += "/" + m
	}
	return p
}

// request is one admin API call.
type request struct {
	method string
	// path starts with /admin/v1 and may carry a query.
	path        string
	body        io.Reader
	contentType string
	// contentLength is the body's length when known; 0 with a body means unknown (chunked).
	contentLength int64
	// getBody, when set, gives a fresh copy of the body, so that the request can be resent
	// on a fresh connection.
	getBody func() (io.ReadCloser, error)
	// header holds extra request headers.
	header http.Header
}

// do sends r and returns the response when its status is 2xx; the caller closes its body.
// Any other status becomes an *apiError.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, r.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.contentLength > 0 {
		req.ContentLength = r.contentLength
	}
	req.GetBody = r.getBody
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	// The admin token goes to the admin API only: GET /requests/{id} (invoke --wait) is a
	// function-side path, where a bearer token is taken for a caller's JWT.
	if c.token != "" && strings.HasPrefix(r.path, adminPrefix+"/") {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "edgefn/"+version)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		err := decodeError(resp)
		var ae *apiError
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" && errors.As(err, &ae) {
			ae.Message += " (no --token given, and no admin-token file in --data-dir for a server on this machine)"
		}
		return nil, err
	}
	return resp, nil
}

// transportError explains a request that got no response.
func (c *client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach edgefn at %s: is it running? (edgefn serve)", c.base)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and the whole URL
	}
	return fmt.Errorf("cannot reach edgefn at %s: %w", c.base, err)
}

// getJSON GETs path and decodes the JSON response into v.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	return c.callJSON(ctx, request{method: http.MethodGet, path: path}, v)
}

// callJSON sends r and decodes the JSON response into v.
func (c *client) callJSON(ctx context.Context, r request, v any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
	}
	return nil
}

// getRaw GETs path and returns the response body as it came.
func (c *client) getRaw(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: read response: %w", path, err)
	}
	return body, nil
}

// apiError is an error answer of the server:
// {"error":{"code","message","requestId","details":[...]}}.
type apiError struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is the machine-readable kind, such as "not_found" or "invalid_manifest".
	Code string `json:"code"`
	// Message says what went wrong.
	Message string `json:"message"`
	// RequestID names the request in the server's logs.
	RequestID string `json:"requestId"`
	// Details are the individual problems, such as every error of a manifest with its
	// file:line.
	Details []string `json:"details"`
}

// Error is the message followed by each detail on its own line.
func (e *apiError) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	return e.Message + "\n" + strings.Join(e.Details, "\n")
}

// decodeError turns a non-2xx response into an *apiError. A body that is not the server's
// error JSON (a proxy's page, a function's own answer) becomes the status and the body's
// first line.
func decodeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var envelope struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(body, &envelope) == nil && envelope.Error != nil && envelope.Error.Message != "" {
		envelope.Error.Status = resp.StatusCode
		return envelope.Error
	}
	msg := resp.Status
	if first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n"); first != "" {
		msg += ": " + truncate(first, 200)
	}
	return &apiError{Status: resp.StatusCode, Code: codeOf(resp.StatusCode), Message: msg}
}

// codeOf is the error code of a status, for errors without the server's JSON.
func codeOf(status int) string {
	if status == http.StatusNotFound {
		return "not_found"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// The admin API's answers are the gateway's and the runtime's own types, encoded as JSON.
type (
	functionInfo  = gateway.FunctionView
	versionResult = runtime.DeployResult
	logLine       = runtime.LogLine
)

// triggerCells are f's triggers as list and get show them, each schedule with its next run,
// or paused.
func triggerCells(f *functionInfo) []string {
	ts := slices.Clone(f.Triggers)
	for _, s := range f.Schedules {
		if s.Index >= len(ts) {
			continue
		}
		switch {
		case s.Paused:
			ts[s.Index] += " paused"
		case !s.Next.IsZero():
			ts[s.Index] += " next " + s.Next.UTC().Format(time.RFC3339)
		}
	}
	return ts
}

// functionList is the answer of GET /admin/v1/functions.
type functionList struct {
	Functions []functionInfo `json:"functions"`
}
