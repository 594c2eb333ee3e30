// Command echo answers what it was sent. A GET answers a JSON description of the request as the
// function sees it (method, path, params, query, claims, selected headers, and the attributes
// of a CloudEvent); any other method answers the body back, byte for byte, with its content
// type.
package main

import (
	"context"
	"strings"
	"time"

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
	CloudEvent  *CloudEvent         `json:"cloudEvent,omitempty"`
}

// CloudEvent is what a function sees of a request that is a CloudEvent (it has a type): the
// event's attributes, and its extensions, which arrive as Ce-* headers.
type CloudEvent struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Source     string            `json:"source"`
	Subject    string            `json:"subject,omitempty"`
	Time       string            `json:"time"`
	Extensions map[string]string `json:"extensions,omitempty"`
}

// coreHeaders are the binary-mode headers of the attributes CloudEvent holds on its own.
var coreHeaders = map[string]bool{"Ce-Specversion": true, "Ce-Id": true, "Ce-Type": true,
	"Ce-Source": true, "Ce-Subject": true, "Ce-Time": true}

func cloudEvent(ev *fn.Event) *CloudEvent {
	if ev.Type == "" {
		return nil
	}
	ce := &CloudEvent{ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject,
		Time: ev.Time.Format(time.RFC3339Nano)}
	for k, v := range ev.Headers {
		if strings.HasPrefix(k, "Ce-") && !coreHeaders[k] {
			if ce.Extensions == nil {
				ce.Extensions = map[string]string{}
			}
			ce.Extensions[strings.ToLower(k[3:])] = v
		}
	}
	return ce
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
		CloudEvent: cloudEvent(ev),
	}), nil
}
