package runtime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/edgefn/edgefn/runtime/wire"
)

// HostCaller answers the calls functions make to the host during an invocation, such as
// fn.Presence (docs/sdk.md#presence). A request is a JSON object with an "op"; the answer is a
// JSON object, with "error" (a message) when the call failed.
type HostCaller interface {
	HostCall(ctx context.Context, function string, req []byte) []byte
}

// Host call bounds: calls in flight per plugin process (more are refused at once), and how
// long one may take.
const (
	maxHostCalls    = 64
	hostCallTimeout = 10 * time.Second
)

// hostCall answers one KindHostCall frame of the plugin, on a goroutine of its own.
func (i *instance) hostCall(f wire.Frame) {
	if i.host == nil {
		i.replyHost(f.ID, hostError("this gateway answers no host calls"))
		return
	}
	select {
	case i.hostCalls <- struct{}{}:
	default:
		i.replyHost(f.ID, hostError("too many host calls in flight"))
		return
	}
	req := append([]byte(nil), f.Payload...) // the frame's memory is reused
	go func() {
		defer func() { <-i.hostCalls }()
		ctx, cancel := context.WithTimeout(context.Background(), hostCallTimeout)
		defer cancel()
		i.replyHost(f.ID, i.host.HostCall(ctx, i.function, req))
	}()
}

func (i *instance) replyHost(id uint64, payload []byte) {
	_ = i.data.Send(wire.Frame{Kind: wire.KindHostReply, ID: id, Payload: payload})
}

func hostError(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
