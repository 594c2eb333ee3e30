// Command echo answers what it was sent. A GET answers a JSON description of the request as the
// function sees it (method, path, params, query, claims, selected headers); any other method
// answers the body back, byte for byte, with its content type.
package main

import (
	"context"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Echo))
}

// Description is echo's answer to a GET.
type Description struct {
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Params      map[string]string   `json:"params"`
	Query       map[string][]string `json:"query"`
	Claims      map[string]any      `json:"claims,omitempty"`
	ContentType string              `json:"contentType,omitempty"`
	UserAgent   string              `json:"userAgent,omitempty"`
	RequestID   string              `json:"requestId"`
}

// Echo answers the request.
func Echo(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Method != "GET" && ev.Method != "HEAD" {
		fn.Logger(ctx).Debug("echoing body", "bytes", len(ev.Data))
		ct := ev.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		return fn.Bytes(200, ct, ev.Data), nil
	}
	return fn.JSON(200, Description{
		Method: ev.Method, Path: ev.Path, Params: ev.Params, Query: ev.Query, Claims: ev.Claims,
		ContentType: ev.ContentType, UserAgent: ev.Headers["User-Agent"], RequestID: ev.ID,
	}), nil
}
