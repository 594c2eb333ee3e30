package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/edgefn/edgefn/internal/gotune"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime/fn"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// instanceSpec is what starting one plugin process needs.
type instanceSpec struct {
	Function string
	Version  int
	Binary   string
	// SHA256, when set, is the checksum the binary must have (verified by go-plugin at each start).
	SHA256       string
	Env          map[string]string
	StartTimeout time.Duration
	Logs         *Logs
	Logger       *slog.Logger
	// Meters count the start; nil counts nothing.
	Meters *meters
}

// instance is one running plugin process and its data path. It fails every in-flight
// invocation with ErrCrashed when the process dies.
type instance struct {
	function string
	client   *plugin.Client
	data     *wire.Conn
	next     atomic.Uint64
	// batches: the plugin takes batch frames (SDK 0.2 and later).
	batches bool

	mu      sync.Mutex
	pending map[uint64]chan []byte
	dead    bool
}

// startInstance starts a plugin process, completes the go-plugin handshake and connects to its
// data path. The gateway's own environment is not passed on: only spec.Env (see envList).
func startInstance(ctx context.Context, spec instanceSpec) (*instance, error) {
	cmd := exec.Command(spec.Binary)
	cmd.Env = envList(spec.Env)
	bindToParent(cmd)

	var secure *plugin.SecureConfig
	if spec.SHA256 != "" {
		sum, err := hex.DecodeString(spec.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sha256: %w", err)
		}
		// A fresh hash each start: a hash.Hash keeps state between uses.
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	// One writer per source: the process's own stderr (crash traces) and the synced streams
	// arrive in different chunks and must not merge into one line.
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: hostPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     spec.StartTimeout,
		Logger:           hclog.NewNullLogger(),
		Stderr:           spec.Logs.Writer("stderr"),
		SyncStdout:       spec.Logs.Writer("stdout"),
		SyncStderr:       spec.Logs.Writer("stderr"),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxGRPCMessage), grpc.MaxCallSendMsgSize(wire.MaxGRPCMessage))},
	})
	began := time.Now()
	inst, err := connect(ctx, client, spec)
	if err != nil {
		client.Kill()
		return nil, err
	}
	spec.Meters.recordStart(spec.Function, time.Since(began))
	return inst, nil
}

func connect(ctx context.Context, client *plugin.Client, spec instanceSpec) (*instance, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("start plugin: %w", err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense: %w", err)
	}
	control := raw.(pb.FunctionClient)
	open, err := control.Open(ctx, &pb.OpenRequest{Function: spec.Function, Version: int64(spec.Version)})
	if err != nil {
		return nil, fmt.Errorf("open data path: %w", err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", open.GetSocket())
	if err != nil {
		return nil, fmt.Errorf("connect data path: %w", err)
	}
	inst := &instance{function: spec.Function, client: client, data: wire.NewConn(c), batches: open.GetBatches(),
		pending: make(map[uint64]chan []byte)}
	go inst.readLoop()
	return inst, nil
}

// readLoop hands responses to their callers until the plugin goes away, then fails the rest.
func (i *instance) readLoop() {
	i.data.ReadLoop(func(f wire.Frame) {
		if f.Kind != wire.KindResponse && f.Kind != wire.KindBatchResponse {
			return
		}
		i.mu.Lock()
		ch := i.pending[f.ID]
		delete(i.pending, f.ID)
		i.mu.Unlock()
		if ch != nil {
			// The caller decodes its own answer, in parallel with the next read; the
			// frame's memory is reused, so it gets a copy.
			ch <- append([]byte(nil), f.Payload...)
		}
	})
	i.mu.Lock()
	i.dead = true
	for id, ch := range i.pending {
		close(ch)
		delete(i.pending, id)
	}
	i.mu.Unlock()
}

// invoke sends one invocation and waits for its answer, the deadline, or the process's death.
func (i *instance) invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	bp := getBuffer()
	payload, err := appendRequest((*bp)[:0], ev, deadline, tracectx.Traceparent(ctx), RequestID(ctx))
	*bp = payload
	if err != nil {
		putBuffer(bp)
		return nil, &FunctionError{Detail: err.Error()}
	}
	if len(payload) > wire.MaxPayload {
		putBuffer(bp)
		return nil, &Error{Status: 413, Code: "too_large", Message: "event too large"}
	}

	id := i.next.Add(1)
	ch := make(chan []byte, 1)
	i.mu.Lock()
	if i.dead {
		i.mu.Unlock()
		putBuffer(bp)
		return nil, ErrCrashed
	}
	i.pending[id] = ch
	i.mu.Unlock()

	// Send has buffered or written the payload when it returns: its memory is free again.
	err = i.data.Send(wire.Frame{Kind: wire.KindRequest, ID: id, Payload: payload})
	putBuffer(bp)
	if err != nil {
		i.forget(id)
		if errors.Is(err, wire.ErrTooLarge) {
			return nil, &Error{Status: 413, Code: "too_large", Message: "event too large"}
		}
		return nil, ErrCrashed
	}
	resp, err := i.await(ctx, id, ch)
	if err != nil {
		return nil, err
	}
	res, ran, err := decodeAnswer(resp)
	recordHandler(ctx, i.function, ran)
	return res, err
}

// await waits for the answer to call id on ch, for the call's deadline and for ctx's end. It
// returns the answer, or why there is none: ErrCrashed when the process died, ErrTimeout, or
// ctx's error. A call given up on is forgotten, and the plugin told to cancel it.
func (i *instance) await(ctx context.Context, id uint64, ch chan []byte) ([]byte, error) {
	w := waitFor(ctx)
	defer w.release()
	var err error
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrCrashed
		}
		return resp, nil
	case <-w.expired:
		err = ErrTimeout
	case <-w.done:
		err = waitErr(ctx)
	}
	i.forget(id)
	_ = i.data.Send(wire.Frame{Kind: wire.KindCancel, ID: id})
	return nil, err
}

// invokeBatch sends evs in one batch frame and waits for all their answers, the deadline, or
// the process's death; out[k] gets the outcome of evs[k]. A plugin built with an SDK that
// predates batches, or a batch too large for one frame, gets the invocations one by one.
func (i *instance) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	if !i.batches || len(evs) == 1 {
		invokeEach(ctx, InvokerFunc(i.invoke), evs, out)
		return
	}
	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	rid := RequestID(ctx)
	bp, sp := getBuffer(), getBuffer()
	defer putBuffer(sp)
	payload := (*bp)[:0]
	sent := make([]int, 0, len(evs)) // which of evs the frame carries, in its order
	for k, ev := range evs {
		req, err := appendRequest((*sp)[:0], ev, deadline, out[k].traceparent, rid)
		*sp = req
		if err != nil {
			// An event that cannot be encoded fails alone; the batch goes on without it.
			out[k] = outcome{err: &FunctionError{Detail: err.Error()}}
			continue
		}
		payload = wire.AppendMessage(payload, wire.BatchRequests, req)
		sent = append(sent, k)
	}
	*bp = payload
	defer putBuffer(bp)
	if len(payload) > wire.MaxPayload {
		invokeEach(ctx, InvokerFunc(i.invoke), evs, out)
		return
	}
	id := i.next.Add(1)
	ch := make(chan []byte, 1)
	i.mu.Lock()
	if i.dead {
		i.mu.Unlock()
		fillOutcomes(out, sent, ErrCrashed)
		return
	}
	i.pending[id] = ch
	i.mu.Unlock()
	if err := i.data.Send(wire.Frame{Kind: wire.KindBatchRequest, ID: id, Payload: payload}); err != nil {
		i.forget(id)
		fillOutcomes(out, sent, ErrCrashed)
		return
	}
	resp, err := i.await(ctx, id, ch)
	if err != nil {
		fillOutcomes(out, sent, err)
		return
	}
	decodeBatchResponse(resp, out, sent)
	for _, k := range sent {
		if out[k].span != nil && out[k].span.IsRecording() {
			recordHandler(trace.ContextWithSpan(ctx, out[k].span), i.function, out[k].ran)
		}
	}
}

func (i *instance) forget(id uint64) {
	i.mu.Lock()
	delete(i.pending, id)
	i.mu.Unlock()
}

// done is closed when the data path ends: the process died or was stopped.
func (i *instance) done() <-chan struct{} { return i.data.Done() }

// stop ends the process: it closes the data path, which makes the SDK exit, and then has
// go-plugin make sure of it (it kills after a grace period).
func (i *instance) stop() {
	i.data.Close()
	i.client.Kill()
}

// envList is a plugin's environment: the manifest's env, with GODEBUG extended by the
// runtime setting every edgefn process runs with (see gotune).
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env)+1)
	for k, v := range env {
		if k != "GODEBUG" {
			out = append(out, k+"="+v)
		}
	}
	debug, _ := gotune.GODEBUG(env["GODEBUG"])
	out = append(out, "GODEBUG="+debug)
	sort.Strings(out)
	return out
}

// hostPlugin is the gateway's side of the go-plugin contract.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("runtime: the gateway is the plugin client only")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewFunctionClient(c), nil
}

var _ plugin.GRPCPlugin = hostPlugin{}
