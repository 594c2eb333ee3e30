package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/sandbox"
	"github.com/edgefn/edgefn/runtime/wire"
)

// instanceSpec is what starting one plugin process needs.
type instanceSpec struct {
	Function string
	Version  int
	Binary   string
	// Sum is the binary's SHA-256 at deploy, verified before each start (see binaries).
	Sum      string
	Binaries *binaries
	// Sandbox confines the process, as UID within Limits; nil starts it as a plain child
	// (`sandbox: off`, docs/security.md).
	Sandbox *sandbox.Sandbox
	UID     int
	Limits  sandbox.Limits
	// BaseEnv is what the host adds to every plugin's environment; Env, the manifest's, wins.
	BaseEnv      map[string]string
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
	// proc is the process in the sandbox (nil when unconfined); isolation describes it.
	proc      *sandbox.Proc
	isolation string
	data      *wire.Conn
	next      atomic.Uint64
	// batches: the plugin takes batch frames (SDK 0.2 and later).
	batches bool
	// holds counts the invocations that picked this instance; once retiring is set, none
	// more may, and retired closes when the last one is done (see hold, retire).
	holds      atomic.Int64
	retiring   atomic.Bool
	retired    chan struct{}
	retireOnce sync.Once

	mu      sync.Mutex
	pending map[uint64]*call
	dead    bool
	// expiry fires at armed, the earliest deadline of the calls in pending (monotonic, see
	// clock; 0 when none has one): sweep then fails the calls whose deadline passed and arms
	// it for the next. One timer for all calls, reset only when a call's deadline comes before
	// every other's: calls of one function have one timeout, so each arrives with the latest.
	expiry *time.Timer
	armed  int64
}

// call is a call waiting for its answer. Whoever takes it out of pending sends the answer, once:
// the read loop (the plugin's answer), sweep (its deadline passed), or the read loop's end (the
// process died). Its waiter receives that one answer before the call is reused.
type call struct {
	ch       chan answer
	deadline int64 // monotonic (see clock); 0 for none
}

type answer struct {
	b   []byte
	err error
}

// calls recycles calls, with their channels.
var calls = sync.Pool{New: func() any { return &call{ch: make(chan answer, 1)} }}

// epoch makes deadlines monotonic: clock(t) is t's distance from it, on the monotonic clock
// when t has a reading of it, so a change of the wall clock moves no deadline.
var epoch = time.Now()

func clock(t time.Time) int64 { return int64(t.Sub(epoch)) }

// startInstance starts a plugin process, completes the go-plugin handshake and connects to its
// data path. The gateway's own environment is not passed on: only spec.Env (see envList).
func startInstance(ctx context.Context, spec instanceSpec) (*instance, error) {
	bin, err := spec.Binaries.open(spec.Binary, spec.Sum)
	if err != nil {
		return nil, err
	}
	// The started process holds its own: the gateway's closes once it has started.
	defer bin.Close()
	env := envList(spec.BaseEnv, spec.Env)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: hostPlugin{}},
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     spec.StartTimeout,
		Logger:           hclog.NewNullLogger(),
		Stderr:           spec.Logs.Writer("stderr"),
		SyncStdout:       spec.Logs.Writer("stdout"),
		SyncStderr:       spec.Logs.Writer("stderr"),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxGRPCMessage), grpc.MaxCallSendMsgSize(wire.MaxGRPCMessage))},
	}
	var sandboxed *sandboxRunner
	if spec.Sandbox.On() {
		sandboxed = &sandboxRunner{sb: spec.Sandbox, bin: bin, name: spec.Binary,
			p: sandbox.Process{Function: spec.Function, UID: spec.UID, Limits: spec.Limits}}
		// go-plugin gives the runner a command of its own that holds its handshake's
		// environment; the plugin's is ours with it added, but for the folder go-plugin made
		// for the plugin's socket, which the sandbox hides: the plugin makes it in its working
		// folder.
		cfg.RunnerFunc = func(_ hclog.Logger, handshake *exec.Cmd, _ string) (runner.Runner, error) {
			sandboxed.env = env
			for _, kv := range handshake.Env {
				if !strings.HasPrefix(kv, plugin.EnvUnixSocketDir+"=") {
					sandboxed.env = append(sandboxed.env, kv)
				}
			}
			return sandboxed, nil
		}
	} else {
		cmd := exec.Command(spec.Binary)
		bindToParent(cmd)
		cmd.Env = env
		cfg.Cmd = cmd
	}
	// One writer per source: the process's own stderr (crash traces) and the synced streams
	// arrive in different chunks and must not merge into one line.
	client := plugin.NewClient(cfg)
	began := time.Now()
	inst, err := connect(ctx, client, spec)
	var proc *sandbox.Proc
	if sandboxed != nil {
		proc = sandboxed.proc
	}
	if err != nil {
		client.Kill()
		proc.Close()
		return nil, err
	}
	inst.proc, inst.isolation = proc, "off"
	if proc != nil {
		inst.isolation = proc.Isolation()
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
		retired: make(chan struct{}),
		pending: make(map[uint64]*call)}
	inst.expiry = time.AfterFunc(time.Hour, inst.sweep)
	inst.expiry.Stop()
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
		c := i.pending[f.ID]
		if c != nil {
			delete(i.pending, f.ID)
		}
		i.mu.Unlock()
		if c != nil {
			// The caller decodes its own answer, in parallel with the next read; the
			// frame's memory is reused, so it gets a copy.
			c.ch <- answer{b: append([]byte(nil), f.Payload...)}
		}
	})
	i.mu.Lock()
	i.dead = true
	i.expiry.Stop()
	for id, c := range i.pending {
		delete(i.pending, id)
		c.ch <- answer{err: ErrCrashed}
	}
	i.mu.Unlock()
}

// register enters a call with ctx's deadline into pending, and arms expiry for it when that
// is the earliest.
func (i *instance) register(ctx context.Context) (uint64, *call, error) {
	c := calls.Get().(*call)
	c.deadline = 0
	if d, ok := ctx.Deadline(); ok {
		c.deadline = clock(d)
	}
	id := i.next.Add(1)
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.dead {
		calls.Put(c)
		return 0, nil, ErrCrashed
	}
	i.pending[id] = c
	if c.deadline != 0 && (i.armed == 0 || c.deadline < i.armed) {
		i.armed = c.deadline
		i.expiry.Reset(time.Duration(c.deadline - clock(time.Now())))
	}
	return id, c, nil
}

// sweep fails the calls whose deadline passed with ErrTimeout, tells the plugin to cancel them,
// and arms expiry for the earliest deadline left.
func (i *instance) sweep() {
	var expired []wire.Frame
	i.mu.Lock()
	now, next := clock(time.Now()), int64(0)
	for id, c := range i.pending {
		switch {
		case c.deadline == 0:
		case c.deadline <= now:
			delete(i.pending, id)
			c.ch <- answer{err: ErrTimeout}
			expired = append(expired, wire.Frame{Kind: wire.KindCancel, ID: id})
		case next == 0 || c.deadline < next:
			next = c.deadline
		}
	}
	i.armed = next
	if next != 0 && !i.dead {
		i.expiry.Reset(time.Duration(next - now))
	}
	i.mu.Unlock()
	if len(expired) > 0 {
		_ = i.data.SendAll(expired)
	}
}

// abandon gives up on call id, which its caller no longer waits for, and recycles it. A call
// still pending leaves it, and the plugin is told to cancel it when cancel is set; one taken
// out already has its answer on the way, which abandon receives and returns.
func (i *instance) abandon(id uint64, c *call, cancel bool) (answer, bool) {
	i.mu.Lock()
	mine := i.pending[id] == c
	if mine {
		delete(i.pending, id)
	}
	i.mu.Unlock()
	if !mine {
		a := <-c.ch
		calls.Put(c)
		return a, true
	}
	calls.Put(c)
	if cancel {
		_ = i.data.Send(wire.Frame{Kind: wire.KindCancel, ID: id})
	}
	return answer{}, false
}

// invoke sends evs and waits for their answers, the deadline, or the process's death; out[k]
// gets the outcome of evs[k]. One event goes in a request frame of its own, several in one
// batch frame; a plugin built with an SDK that predates batches, or a batch too large for one
// frame, gets them one by one.
func (i *instance) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	switch {
	case len(evs) == 1:
		i.invokeOne(ctx, evs[0], &out[0])
	case !i.batches:
		invokeEach(ctx, evs, out, i.invokeOne)
	default:
		i.invokeBatch(ctx, evs, out)
	}
}

// invokeOne sends one invocation and waits for its answer into o.
func (i *instance) invokeOne(ctx context.Context, ev *event.Event, o *outcome) {
	o.res, o.ran, o.err = i.call(ctx, ev, o.traceparent)
	recordHandler(ctx, i.function, o)
}

// call sends one invocation and waits for its answer.
func (i *instance) call(ctx context.Context, ev *event.Event, traceparent string) (*event.Result, handlerTimes, error) {
	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	bp := getBuffer()
	payload, err := wire.AppendRequest((*bp)[:0], &wire.Request{Event: *ev, Deadline: deadline,
		Traceparent: traceparent, RequestID: RequestID(ctx)})
	*bp = payload
	if err != nil {
		putBuffer(bp)
		return nil, handlerTimes{}, &FunctionError{Detail: err.Error()}
	}
	if len(payload) > wire.MaxPayload {
		putBuffer(bp)
		return nil, handlerTimes{}, &Error{Status: 413, Code: "too_large", Message: "event too large"}
	}

	id, c, err := i.register(ctx)
	if err != nil {
		putBuffer(bp)
		return nil, handlerTimes{}, err
	}
	// Send has buffered or written the payload when it returns: its memory is free again.
	err = i.data.Send(wire.Frame{Kind: wire.KindRequest, ID: id, Payload: payload})
	putBuffer(bp)
	if err != nil {
		i.abandon(id, c, false)
		if errors.Is(err, wire.ErrTooLarge) {
			return nil, handlerTimes{}, &Error{Status: 413, Code: "too_large", Message: "event too large"}
		}
		return nil, handlerTimes{}, ErrCrashed
	}
	resp, err := i.await(ctx, id, c)
	if err != nil {
		return nil, handlerTimes{}, err
	}
	return decodeAnswer(resp)
}

// await waits for the answer to call id: the plugin's, or ErrTimeout from sweep, or ErrCrashed
// when the process died. A ctx that can end before its deadline is waited for as well (the
// caller gives up: ctx's error); the call is then abandoned and the plugin told to cancel it.
func (i *instance) await(ctx context.Context, id uint64, c *call) ([]byte, error) {
	done := doneOf(ctx)
	if done == nil { // an HTTP call: nothing ends it but its deadline
		a := <-c.ch
		calls.Put(c)
		return a.b, a.err
	}
	select {
	case a := <-c.ch:
		calls.Put(c)
		return a.b, a.err
	case <-done:
	}
	if a, ok := i.abandon(id, c, true); ok {
		return a.b, a.err
	}
	return nil, waitErr(ctx)
}

// invokeBatch sends evs in one batch frame and waits for all their answers.
func (i *instance) invokeBatch(ctx context.Context, evs []*event.Event, out []outcome) {
	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	rid := RequestID(ctx)
	bp := getBuffer()
	payload := (*bp)[:0]
	sent := make([]int, 0, len(evs)) // which of evs the frame carries, in its order
	for k, ev := range evs {
		var err error
		payload, err = wire.AppendBatchRequest(payload, &wire.Request{Event: *ev, Deadline: deadline,
			Traceparent: out[k].traceparent, RequestID: rid})
		if err != nil {
			// An event that cannot be encoded fails alone; the batch goes on without it.
			out[k].res, out[k].err = nil, &FunctionError{Detail: err.Error()}
			continue
		}
		sent = append(sent, k)
	}
	*bp = payload
	defer putBuffer(bp)
	if len(payload) > wire.MaxPayload {
		invokeEach(ctx, evs, out, i.invokeOne)
		return
	}
	id, c, err := i.register(ctx)
	if err != nil {
		fillOutcomes(out, sent, err)
		return
	}
	if err := i.data.Send(wire.Frame{Kind: wire.KindBatchRequest, ID: id, Payload: payload}); err != nil {
		i.abandon(id, c, false)
		fillOutcomes(out, sent, ErrCrashed)
		return
	}
	resp, err := i.await(ctx, id, c)
	if err != nil {
		fillOutcomes(out, sent, err)
		return
	}
	decodeBatchResponse(resp, out, sent)
	for _, k := range sent {
		recordHandler(ctx, i.function, &out[k])
	}
}

// done is closed when the data path ends: the process died or was stopped.
func (i *instance) done() <-chan struct{} { return i.data.Done() }

// hold takes the instance for one invocation (or batch); it fails once the instance retires.
func (i *instance) hold() bool {
	i.holds.Add(1)
	if i.retiring.Load() {
		i.release()
		return false
	}
	return true
}

// release ends a hold.
func (i *instance) release() {
	if i.holds.Add(-1) == 0 && i.retiring.Load() {
		i.retireOnce.Do(func() { close(i.retired) })
	}
}

// retire refuses new holds and returns a channel closed once those taken are released.
func (i *instance) retire() <-chan struct{} {
	i.retiring.Store(true)
	if i.holds.Load() == 0 {
		i.retireOnce.Do(func() { close(i.retired) })
	}
	return i.retired
}

// stop ends the process: it closes the data path, which makes the SDK exit, and then has
// go-plugin make sure of it (it kills after a grace period).
//
// It returns why the process ended, once it has: exitMemory when the kernel killed it over its
// memory limit, else exitCrash.
func (i *instance) stop() string {
	i.data.Close()
	i.client.Kill()
	reason := exitCrash
	if i.proc.MemoryKilled() {
		reason = exitMemory
	}
	i.proc.Close()
	return reason
}

// Why a process ended: the reason label of edgefn_plugin_restarts_total.
const (
	exitCrash  = "crash"
	exitMemory = "memory"
)

// envList is a plugin's whole environment: base, the variables the host adds to every plugin
// (docs/runtime.md), under the manifest's env, which wins where both name a variable.
func envList(base, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for k, v := range base {
		if _, set := env[k]; !set {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
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

var _ stage = (*instance)(nil)
