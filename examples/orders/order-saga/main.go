// Command order-saga decides each order's fate and orders the compensation: a choreographed
// saga. It consumes order-events (its manifest's filter passes the payment and stock outcomes)
// and keeps what it learnt per order:
//
//   - PaymentCompleted and StockReserved both seen: OrderConfirmed.
//   - PaymentFailed or OutOfStock: OrderCancelled, and, unless the stock was short, the
//     compensation ReleaseStock on the stock queue with the highest priority. Payments refunds
//     on OrderCancelled by itself (it owns the ledger).
//
// The decision is made once, by the event that completes it; a redelivery of that event emits
// the same messages under the same IDs again, later events change nothing. Every decision is
// notified on orders.{id}. The state lives in this process (the manifest runs one instance);
// see the README.
//
// Environment: ORDER_EVENTS (default order-events), STOCK_QUEUE (default stock-reservations),
// MAX_ORDERS (default 10000).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	maxOrders, err := order.EnvInt("MAX_ORDERS", order.DefaultMaxOrders)
	if err != nil {
		fmt.Fprintln(os.Stderr, "order-saga:", err)
		os.Exit(2)
	}
	s := New(order.EnvName("ORDER_EVENTS", "order-events"), order.EnvName("STOCK_QUEUE", "stock-reservations"), maxOrders)
	fn.Serve(fn.HandlerFunc(s.Handle))
}

// Saga holds what it learnt of each order.
type Saga struct {
	// Events is the stream decisions go to; Queue the stock queue ReleaseStock goes to.
	Events, Queue string
	book          *order.Book[state]
}

type state struct {
	payment, stock string // the outcome event types seen, "" before
	decision       string // OrderConfirmed or OrderCancelled, "" before
	reason         string
	decidedBy      string // the event type that made the decision
}

// New returns a saga that emits to the stream events and the queue queue.
func New(events, queue string, maxOrders int) *Saga {
	return &Saga{Events: events, Queue: queue, book: order.NewBook[state](maxOrders)}
}

// Handle records one outcome and decides when it can.
func (s *Saga) Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	id, reason, err := decode(ev)
	if err != nil {
		return nil, err
	}
	var st state
	s.book.Do(id, func(v *state) {
		switch ev.Type {
		case order.PaymentCompleted, order.PaymentFailed:
			v.payment = ev.Type
		default:
			v.stock = ev.Type
		}
		if v.decision == "" {
			switch {
			case ev.Type == order.PaymentFailed:
				v.decision, v.reason = order.OrderCancelled, "payment declined: "+reason
			case ev.Type == order.OutOfStock:
				v.decision, v.reason = order.OrderCancelled, "out of stock: "+reason
			case v.payment == order.PaymentCompleted && v.stock == order.StockReserved:
				v.decision = order.OrderConfirmed
			}
			if v.decision != "" {
				v.decidedBy = ev.Type
			}
		}
		st = *v
	})
	if st.decision == "" || st.decidedBy != ev.Type {
		return nil, nil // undecided yet, or decided by another event
	}
	fn.Logger(ctx).Info("decided", "order", id, "decision", st.decision, "reason", st.reason)
	res := fn.Status(204).
		Emit(fn.ToStream(s.Events, st.decision, order.Decision{OrderID: id, Reason: st.reason}).
			WithID(order.MessageID(id, st.decision)).WithSubject(id))
	if st.decision == order.OrderCancelled && st.stock != order.OutOfStock {
		// The stock may be reserved, or about to be: release it (or make sure it never is).
		res.Emit(fn.ToQueue(s.Queue, order.ReleaseStock, order.Stock{OrderID: id, Reason: st.reason}).
			WithID(order.MessageID(id, order.ReleaseStock)).WithSubject(id).WithPriority(order.PriorityRelease))
	}
	return res.Notify(order.Topic(id), order.NewUpdate(id, st.decision, st.reason, time.Now())), nil
}

// decode reads the order ID and the reason of a payment or stock outcome.
func decode(ev *fn.Event) (id, reason string, err error) {
	switch ev.Type {
	case order.PaymentCompleted, order.PaymentFailed:
		var p order.Payment
		err, id, reason = order.Decode(ev.Data, &p), p.OrderID, p.Reason
	case order.StockReserved, order.OutOfStock:
		var s order.Stock
		err, id, reason = order.Decode(ev.Data, &s), s.OrderID, s.Reason
	default:
		return "", "", fmt.Errorf("order-saga does not handle %q events: check the manifest's filter", ev.Type)
	}
	if err == nil && !order.ValidID(id) {
		err = fmt.Errorf("bad order ID %q", id)
	}
	if err != nil {
		return "", "", fmt.Errorf("not a %s event (%v): %.200s", ev.Type, err, ev.Data)
	}
	return id, reason, nil
}
