package pluginserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// Handler is the function's handler as the server calls it; an fn.Handler is one.
type Handler interface {
	Handle(ctx context.Context, ev *event.Event) (*event.Result, error)
}

// Serve runs h as an edgefn function plugin built with the SDK of version sdk, which the
// gateway is told when it opens the data path. It returns only when the gateway stops the
// plugin; run outside edgefn it prints how to use the binary and exits.
func Serve(h Handler, sdk string) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &grpcPlugin{handler: h, sdk: sdk}},
		// go-plugin's own plugin-side chatter (addresses, debug) stays out of the function's log.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(wire.MaxGRPCMessage), grpc.MaxSendMsgSize(wire.MaxGRPCMessage))
			return grpc.NewServer(opts...)
		},
	})
}

// grpcPlugin is the plugin side of the go-plugin contract.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	handler Handler
	sdk     string
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterFunctionServer(s, &controlServer{handler: p.handler, sdk: p.sdk})
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("fn: the SDK is the plugin side only")
}

// controlServer answers the gateway's Open by starting the data path.
type controlServer struct {
	pb.UnimplementedFunctionServer
	handler Handler
	sdk     string

	once   sync.Once
	socket string
	err    error
}

func (s *controlServer) Open(_ context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	s.once.Do(func() {
		var dir string
		dir, s.err = os.MkdirTemp("", "edgefn-fn-")
		if s.err != nil {
			return
		}
		s.socket = filepath.Join(dir, "data.sock")
		var ln net.Listener
		ln, s.err = net.Listen("unix", s.socket)
		if s.err != nil {
			return
		}
		// The socket file is unlinked once the gateway is connected: nobody else may dial it.
		srv := &dataServer{handler: s.handler, function: req.GetFunction()}
		// Until handlers have shown they are quick, each call and each event of a batch gets
		// a worker of its own.
		srv.avg.Store(int64(slowHandler))
		go srv.accept(ln, dir)
	})
	if s.err != nil {
		return nil, s.err
	}
	return &pb.OpenResponse{Socket: s.socket, Sdk: s.sdk, Batches: true}, nil
}
