// Command order-view is the read side of the workflow (CQRS): a projection of the stream
// order-events, the event-sourced history of every order, into one view per order, which it
// serves over HTTP:
//
//	GET /orders/{id}   the order's view: status, payment, stock, and the events it came from
//	GET /orders        the most recent orders' views (?limit=, default 20, at most 100)
//
// Its stream trigger reads order-events in its own consumer group from the oldest entry, so a
// new group replays the whole history before it follows new events. The views live in this
// process's memory; the manifest runs exactly one instance, which both consumes the stream and
// answers the GETs. The README says what that choice costs and how to rebuild.
//
// Events arrive at least once and, since deliveries run concurrently, not necessarily in
// order: the projection ignores an event of a type it has applied and folds statuses by rank
// (a payment that was refunded stays refunded when a late PaymentCompleted arrives).
//
// Environment: MAX_ORDERS (views kept, default 10000).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	maxOrders, err := order.EnvInt("MAX_ORDERS", order.DefaultMaxOrders)
	if err != nil {
		fmt.Fprintln(os.Stderr, "order-view:", err)
		os.Exit(2)
	}
	p := New(maxOrders)
	fn.Serve(fn.HandlerFunc(p.Handle))
}

// View is one order as the read model shows it.
type View struct {
	ID       string       `json:"orderId"`
	Customer string       `json:"customer,omitempty"`
	Items    []order.Item `json:"items,omitempty"`
	Amount   float64      `json:"amount,omitempty"`
	Urgent   bool         `json:"urgent,omitempty"`
	// Status is pending (OrderCreated not seen yet), created, confirmed or cancelled.
	Status string `json:"status"`
	// Payment is pending, paid, declined, refunded or cancelled (never charged).
	Payment string `json:"payment"`
	// Stock is pending, reserved, out_of_stock or released.
	Stock string `json:"stock"`
	// Reason says why the order was cancelled.
	Reason string `json:"reason,omitempty"`
	// Events are the events applied, by time.
	Events []Applied `json:"events"`
}

// Applied is one event of an order's history.
type Applied struct {
	ID   string    `json:"id"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
}

// Projector builds and serves the views.
type Projector struct {
	book *order.Book[View]
}

// New returns a projector that keeps at most maxOrders views.
func New(maxOrders int) *Projector { return &Projector{book: order.NewBook[View](maxOrders)} }

// rank orders the statuses of a step: a status never goes back to one of a lower rank.
var rank = map[string]int{
	order.StatusPending: 0,
	order.StatusCreated: 1, order.StatusConfirmed: 2, order.StatusCancelled: 2,
	order.StatusPaid: 1, order.StatusDeclined: 1, order.StatusRefunded: 2,
	order.StatusReserved: 1, order.StatusOutOfStock: 1, order.StatusReleased: 2,
}

// Handle applies a stream event, or answers a GET.
func (p *Projector) Handle(_ context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Source == "http" {
		return p.serve(ev)
	}
	step, known := order.Steps[ev.Type]
	if !known {
		return nil, nil // not an order event: nothing to project
	}
	var data struct {
		order.Order
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || !order.ValidID(data.ID) {
		return nil, fmt.Errorf("not a %s event (%v): %.200s", ev.Type, err, ev.Data)
	}
	key := ev.ID
	if key == "" {
		key = order.MessageID(data.ID, ev.Type)
	}
	p.book.Do(data.ID, func(v *View) {
		for _, a := range v.Events {
			if a.Type == ev.Type {
				return // applied already: each type happens once per order, so at most 10 events
			}
		}
		if v.ID == "" {
			v.ID, v.Status, v.Payment, v.Stock = data.ID, order.StatusPending, order.StatusPending, order.StatusPending
		}
		v.Events = append(v.Events, Applied{ID: key, Type: ev.Type, At: ev.Time.UTC()})
		sort.SliceStable(v.Events, func(i, j int) bool { return v.Events[i].At.Before(v.Events[j].At) })
		switch step.Step {
		case "order":
			if ev.Type == order.OrderCreated {
				v.Customer, v.Items, v.Amount, v.Urgent = data.Customer, data.Items, data.Amount, data.Urgent
			}
			if ev.Type == order.OrderCancelled {
				v.Reason = data.Reason
			}
			v.Status = promote(v.Status, step.Status)
		case "payment":
			v.Payment = promote(v.Payment, step.Status)
		case "stock":
			v.Stock = promote(v.Stock, step.Status)
		}
	})
	return nil, nil
}

func promote(current, next string) string {
	if rank[next] > rank[current] {
		return next
	}
	return current
}

// serve answers GET /orders/{id} and GET /orders.
func (p *Projector) serve(ev *fn.Event) (*fn.Result, error) {
	id, one := ev.Params["id"]
	if one {
		var v View
		if !order.ValidID(id) || !p.book.Get(id, func(got *View) { v = copyView(got) }) {
			return nil, fn.Errorf(404, "no order %q (yet: the read model follows the events)", id)
		}
		return fn.JSON(200, v), nil
	}
	limit := 20
	if s := ev.Query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return nil, fn.Errorf(400, "limit: between 1 and 100, got %q", s)
		}
		limit = n
	}
	views := []View{}
	p.book.Recent(limit, func(_ string, v *View) { views = append(views, copyView(v)) })
	return fn.JSON(200, map[string]any{"orders": views}), nil
}

// copyView copies v so that it can be encoded outside the book's lock.
func copyView(v *View) View {
	c := *v
	c.Items = append([]order.Item(nil), v.Items...)
	c.Events = append([]Applied(nil), v.Events...)
	return c
}
