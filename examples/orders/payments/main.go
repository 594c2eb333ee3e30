// Command payments charges orders through a deterministic fake card processor. It consumes the
// stream order-events (its manifest's filter passes OrderCreated and OrderCancelled only):
//
//   - OrderCreated: charge the amount. Amounts listed in DECLINE_AMOUNTS are declined
//     (PaymentFailed), any other is taken (PaymentCompleted).
//   - OrderCancelled: the saga's compensation. A charged order is refunded (PaymentRefunded);
//     an order not charged yet is marked so that it never is (PaymentCancelled when its
//     OrderCreated arrives). Payments and stock reservation run in parallel, so either order
//     of the two events happens.
//
// Every outcome is emitted to order-events under an ID derived from the order, also when a
// redelivery makes this emit it again, and notified on orders.{id}. The ledger lives in this
// process (the manifest runs one instance); see the README for what that means.
//
// Environment: ORDER_EVENTS (default order-events), DECLINE_AMOUNTS (comma-separated amounts,
// e.g. "13.13,666"), MAX_ORDERS (ledger size, default 10000).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	p, err := FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(2)
	}
	fn.Serve(fn.HandlerFunc(p.Handle))
}

// Payments is the fake processor and its ledger.
type Payments struct {
	// Events is the stream outcomes go to.
	Events string
	// Decline lists the amounts, in cents, that are declined.
	Decline map[int64]bool
	ledger  *order.Book[entry]
}

// entry is what the ledger knows of one order.
type entry struct {
	amount float64
	// outcome is the event type of the last outcome (PaymentCompleted, ...), "" when none.
	outcome string
	// cancelled: the order was cancelled; it must not be charged, or must be refunded.
	cancelled bool
	reason    string
}

// FromEnv reads the configuration from the environment.
func FromEnv() (*Payments, error) {
	decline, err := ParseAmounts(os.Getenv("DECLINE_AMOUNTS"))
	if err != nil {
		return nil, fmt.Errorf("DECLINE_AMOUNTS: %w", err)
	}
	maxOrders, err := order.EnvInt("MAX_ORDERS", order.DefaultMaxOrders)
	if err != nil {
		return nil, err
	}
	return New(order.EnvName("ORDER_EVENTS", "order-events"), decline, maxOrders), nil
}

// New returns a processor that emits to the stream events and declines the amounts decline.
func New(events string, decline map[int64]bool, maxOrders int) *Payments {
	return &Payments{Events: events, Decline: decline, ledger: order.NewBook[entry](maxOrders)}
}

// ParseAmounts reads "13.13, 666" as a set of amounts in cents.
func ParseAmounts(s string) (map[int64]bool, error) {
	out := map[int64]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, err := strconv.ParseFloat(f, 64)
		if err != nil || a <= 0 {
			return nil, fmt.Errorf("%q is not an amount", f)
		}
		out[order.Cents(a)] = true
	}
	return out, nil
}

// Handle charges on OrderCreated and compensates on OrderCancelled.
func (p *Payments) Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	switch ev.Type {
	case order.OrderCreated:
		var o order.Order
		if err := order.Decode(ev.Data, &o); err != nil || !order.ValidID(o.ID) {
			return nil, fmt.Errorf("not an OrderCreated event (%v): %.200s", err, ev.Data)
		}
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("OrderCreated for %s is not a valid order: %w", o.ID, err)
		}
		return p.charge(ctx, o), nil
	case order.OrderCancelled:
		var d order.Decision
		if err := order.Decode(ev.Data, &d); err != nil || !order.ValidID(d.OrderID) {
			return nil, fmt.Errorf("not an OrderCancelled event (%v): %.200s", err, ev.Data)
		}
		return p.cancel(d), nil
	}
	return nil, fmt.Errorf("payments does not handle %q events: check the manifest's filter", ev.Type)
}

// charge takes the payment of o, once: a redelivered OrderCreated gets the same outcome.
func (p *Payments) charge(ctx context.Context, o order.Order) *fn.Result {
	var outcome, reason string
	var amount float64
	p.ledger.Do(o.ID, func(e *entry) {
		switch {
		case e.outcome == "" && e.cancelled:
			e.outcome, e.reason = order.PaymentCancelled, "the order was cancelled before it was charged"
		case e.outcome == "" && p.Decline[order.Cents(o.Amount)]:
			e.outcome, e.reason = order.PaymentFailed, "card declined"
		case e.outcome == "":
			e.outcome = order.PaymentCompleted
		}
		if e.amount == 0 {
			e.amount = o.Amount
		}
		outcome, reason, amount = e.outcome, e.reason, e.amount
	})
	fn.Logger(ctx).Info("charge", "order", o.ID, "amount", o.Amount, "outcome", outcome)
	if outcome == order.PaymentRefunded {
		outcome = order.PaymentCompleted // it was charged; the refund has been emitted already
	}
	return p.emit(o.ID, outcome, amount, reason)
}

// cancel is the compensation: refund what was charged, and charge nothing more.
func (p *Payments) cancel(d order.Decision) *fn.Result {
	var outcome, reason string
	var amount float64
	p.ledger.Do(d.OrderID, func(e *entry) {
		e.cancelled = true
		if e.outcome == order.PaymentCompleted {
			e.outcome, e.reason = order.PaymentRefunded, "order cancelled: "+d.Reason
		}
		outcome, reason, amount = e.outcome, e.reason, e.amount
	})
	if outcome != order.PaymentRefunded {
		return nil // nothing was taken; OrderCreated, when it comes, is not charged
	}
	return p.emit(d.OrderID, outcome, amount, reason)
}

func (p *Payments) emit(id, outcome string, amount float64, reason string) *fn.Result {
	pay := order.Payment{OrderID: id, Amount: amount, Reason: reason}
	if outcome == order.PaymentCompleted || outcome == order.PaymentRefunded {
		pay.PaymentID = "pay-" + id
	}
	return fn.Status(204).
		Emit(fn.ToStream(p.Events, outcome, pay).WithID(order.MessageID(id, outcome)).WithSubject(id)).
		Notify(order.Topic(id), order.NewUpdate(id, outcome, reason, time.Now()))
}
