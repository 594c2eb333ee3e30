package fn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/edgefn/edgefn/runtime/fn/internal/pluginserver"
)

// Member is a client on a WebSocket topic whose rule keeps presence: its connection ID, its
// `sub` claim ("" when anonymous) and the info its connect function gave (nil for none).
type Member struct {
	Client string          `json:"client"`
	Sub    string          `json:"sub"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// ErrNoHost is returned by Presence and PresenceStats outside an invocation of the gateway:
// in fntest, say, or in a goroutine whose ctx is not the handler's.
var ErrNoHost = pluginserver.ErrNoHost

// Presence returns every client on the WebSocket topic, across the gateway's nodes, in the
// order of their connection IDs (docs/sdk.md#presence). It asks the gateway during the
// invocation, a page of at most 1,000 clients at a time, within ctx. A topic whose rule keeps
// no presence has none.
func Presence(ctx context.Context, topic string) ([]Member, error) {
	var out []Member
	cursor := ""
	for {
		var page struct {
			Members []Member `json:"members"`
			Cursor  string   `json:"cursor"`
		}
		if err := hostCall(ctx, map[string]string{"op": "presence", "topic": topic, "cursor": cursor}, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Members...)
		if page.Cursor == "" {
			return out, nil
		}
		cursor = page.Cursor
	}
}

// PresenceStats returns how many clients are on the WebSocket topic, across the gateway's
// nodes, and how many distinct non-empty subjects they have.
func PresenceStats(ctx context.Context, topic string) (clients, users int, err error) {
	var s struct{ Clients, Users int }
	err = hostCall(ctx, map[string]string{"op": "presence_stats", "topic": topic}, &s)
	return s.Clients, s.Users, err
}

// hostCall sends req to the gateway and decodes its answer into out.
func hostCall(ctx context.Context, req map[string]string, out any) error {
	b, _ := json.Marshal(req)
	reply, err := pluginserver.HostCall(ctx, b)
	if err != nil {
		return fmt.Errorf("edgefn %s: %w", req["op"], err)
	}
	var failed struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(reply, &failed); err != nil {
		return fmt.Errorf("edgefn %s: the gateway's answer is not JSON: %w", req["op"], err)
	}
	if failed.Error != "" {
		return fmt.Errorf("edgefn %s: %w", req["op"], errors.New(failed.Error))
	}
	return json.Unmarshal(reply, out)
}
