package harness

import (
	"context"
	"io"
	"net/http"
)

// Call sends a request without a body to url and returns the answer's status and up to limit
// bytes of its body. The status is 0 when no answer came.
func Call(ctx context.Context, client *http.Client, method, url string, limit int64) (int, []byte, error) {
	return call(ctx, client, method, url, limit, "")
}

// AdminToken is the admin token of every gateway Serve starts: there is no admin API
// without one (docs/security.md).
const AdminToken = "edgefn-bench-admin-token"

// AdminCall is Call to the admin API, with AdminToken.
func AdminCall(ctx context.Context, client *http.Client, method, url string, limit int64) (int, []byte, error) {
	return call(ctx, client, method, url, limit, AdminToken)
}

func call(ctx context.Context, client *http.Client, method, url string, limit int64, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, body, err
}
