package gateway

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
)

// NodeLister lists the nodes of this node's cluster (docs/cluster.md).
type NodeLister interface {
	// Nodes lists them, live first; an error means the registry's store did not answer.
	Nodes(ctx context.Context) (cluster.List, error)
}

var _ NodeLister = (*cluster.Registry)(nil)

// adminNodes answers GET /admin/v1/nodes: the cluster's nodes, or 503 when the registry's
// store (Redis) does not answer within 5 seconds.
func (s *Server) adminNodes(c *fiber.Ctx) error {
	if s.cfg.Nodes == nil {
		return sendError(c, fiber.StatusNotFound, "not_found", "this server has no node registry")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", err.Error())
	}
	return c.JSON(l)
}

// FunctionView is a function as the admin API shows it: its state on this node and, in a
// cluster, on the others (docs/cluster.md#functions-across-the-nodes).
type FunctionView struct {
	runtime.Info
	// Nodes counts the live nodes that run this node's version of it ready, of all live nodes.
	Nodes *NodeCount `json:"nodes,omitempty"`
	// PerNode is the function on each live node (GET of one function only).
	PerNode []NodeFunction `json:"perNode,omitempty"`
	// Schedules are its schedule triggers' next runs and pause, in the order of its triggers
	// (docs/http.md#admin-api).
	Schedules []dispatch.ScheduleInfo `json:"schedules,omitempty"`
}

// NodeCount is FunctionView.Nodes.
type NodeCount struct {
	Ready int `json:"ready"`
	Total int `json:"total"`
}

// NodeFunction is a function on one node; Version 0 when the node does not run it.
type NodeFunction struct {
	Node string `json:"node"`
	cluster.Function
}

// liveNodes are the cluster's live nodes, or nil when there is no registry or it does not
// answer within a second (the views then leave the nodes out).
type liveNodes []cluster.Node

func (s *Server) liveNodes() liveNodes {
	if s.cfg.Nodes == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return nil
	}
	var live liveNodes
	for _, n := range l.Nodes {
		if n.State == cluster.Live {
			live = append(live, n)
		}
	}
	return live
}

// count is how many of the nodes run info's version of the function ready; nil without nodes.
func (ns liveNodes) count(info runtime.Info) *NodeCount {
	if len(ns) == 0 {
		return nil
	}
	c := &NodeCount{Total: len(ns)}
	for _, n := range ns {
		for _, f := range n.Functions {
			if f.Name == info.Name && f.Version == info.Version && f.Ready {
				c.Ready++
			}
		}
	}
	return c
}

// each is the function named name on every node, by node id.
func (ns liveNodes) each(name string) []NodeFunction {
	var out []NodeFunction
	for _, n := range ns {
		nf := NodeFunction{Node: n.ID, Function: cluster.Function{Name: name}}
		for _, f := range n.Functions {
			if f.Name == name {
				nf.Function = f
			}
		}
		out = append(out, nf)
	}
	return out
}
