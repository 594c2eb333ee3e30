// Command inventory keeps the stock. It consumes the priority queue stock-reservations:
//
//   - ReserveStock (queued by create-order; urgent orders with a higher priority): reserve
//     every line of the order, or none (OutOfStock).
//   - ReleaseStock (queued by the saga, with the highest priority): the compensation. What
//     was reserved goes back to the shelf (StockReleased); an order not reserved yet is marked
//     so that its ReserveStock, when it comes, reserves nothing.
//
// A message it cannot read fails, is retried with backoff, and then lands in the dead-letter
// queue stock-reservations.dlq (`edgefn dlq list stock-reservations`). GET /stock answers the
// stock levels. Outcomes go to order-events and orders.{id}, each under an ID derived from the
// order, also when a redelivery makes this emit it again. The stock lives in this process
// (the manifest runs one instance); see the README.
//
// Environment: ORDER_EVENTS (default order-events), STOCK (the initial levels, e.g.
// "widget=100,gadget=5"; an unlisted SKU has none), MAX_ORDERS (default 10000).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	inv, err := FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(2)
	}
	fn.Serve(fn.HandlerFunc(inv.Handle))
}

// Inventory is the stock and the reservations.
type Inventory struct {
	// Events is the stream outcomes go to.
	Events string

	mu    sync.Mutex // guards stock; taken inside the book's lock, never around it
	stock map[string]int
	book  *order.Book[reservation]
}

// reservation is what the inventory knows of one order.
type reservation struct {
	// outcome is StockReserved, OutOfStock or StockReleased; "" before any.
	outcome string
	items   []order.Item // reserved, then released
	reason  string
}

// FromEnv reads the configuration from the environment.
func FromEnv() (*Inventory, error) {
	stock, err := ParseStock(os.Getenv("STOCK"))
	if err != nil {
		return nil, fmt.Errorf("STOCK: %w", err)
	}
	maxOrders, err := order.EnvInt("MAX_ORDERS", order.DefaultMaxOrders)
	if err != nil {
		return nil, err
	}
	return New(order.EnvName("ORDER_EVENTS", "order-events"), stock, maxOrders), nil
}

// New returns an inventory with the stock levels stock that emits to the stream events.
func New(events string, stock map[string]int, maxOrders int) *Inventory {
	return &Inventory{Events: events, stock: stock, book: order.NewBook[reservation](maxOrders)}
}

// ParseStock reads "widget=100, gadget=5".
func ParseStock(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		sku, n, ok := strings.Cut(f, "=")
		qty, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || qty < 0 {
			return nil, fmt.Errorf("%q: want sku=quantity", f)
		}
		out[strings.TrimSpace(sku)] = qty
	}
	return out, nil
}

// Handle takes a command from the queue, or answers GET /stock.
func (inv *Inventory) Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Source == "http" {
		return fn.JSON(200, inv.Levels()), nil
	}
	var s order.Stock
	if err := order.Decode(ev.Data, &s); err != nil || !order.ValidID(s.OrderID) {
		return nil, fmt.Errorf("not a stock command (%v): %.200s", err, ev.Data)
	}
	switch ev.Type {
	case order.ReserveStock:
		if err := order.ValidateItems(s.Items); err != nil {
			return nil, fmt.Errorf("ReserveStock for %s: %w", s.OrderID, err)
		}
		return inv.reserve(ctx, s), nil
	case order.ReleaseStock:
		return inv.release(ctx, s), nil
	}
	return nil, fmt.Errorf("inventory does not handle %q messages", ev.Type)
}

// Levels returns the stock levels.
func (inv *Inventory) Levels() map[string]int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make(map[string]int, len(inv.stock))
	for k, v := range inv.stock {
		out[k] = v
	}
	return out
}

// reserve takes every line of s off the shelf, or none.
func (inv *Inventory) reserve(ctx context.Context, s order.Stock) *fn.Result {
	var r reservation
	inv.book.Do(s.OrderID, func(res *reservation) {
		if res.outcome == "" {
			res.items, res.outcome, res.reason = s.Items, order.StockReserved, inv.take(s.Items)
			if res.reason != "" {
				res.items, res.outcome = nil, order.OutOfStock
			}
		}
		r = *res
	})
	fn.Logger(ctx).Info("reserve", "order", s.OrderID, "outcome", r.outcome, "reason", r.reason)
	if r.outcome == order.StockReleased {
		return nil // released (cancelled) before or after: nothing to reserve or say again
	}
	return inv.emit(s.OrderID, r)
}

// take removes items from the stock, all or nothing, and says why not when it cannot.
func (inv *Inventory) take(items []order.Item) string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, it := range items {
		if have := inv.stock[it.SKU]; have < it.Qty {
			return fmt.Sprintf("%s: %d wanted, %d in stock", it.SKU, it.Qty, have)
		}
	}
	for _, it := range items {
		inv.stock[it.SKU] -= it.Qty
	}
	return ""
}

// release puts back what the order reserved; an order not reserved yet never will be.
func (inv *Inventory) release(ctx context.Context, s order.Stock) *fn.Result {
	var r reservation
	inv.book.Do(s.OrderID, func(res *reservation) {
		switch res.outcome {
		case order.StockReserved:
			inv.mu.Lock()
			for _, it := range res.items {
				inv.stock[it.SKU] += it.Qty
			}
			inv.mu.Unlock()
			res.outcome, res.reason = order.StockReleased, s.Reason
		case "", order.OutOfStock:
			res.items, res.outcome, res.reason = nil, order.StockReleased, s.Reason
		}
		r = *res
	})
	fn.Logger(ctx).Info("release", "order", s.OrderID, "items", len(r.items))
	return inv.emit(s.OrderID, r)
}

func (inv *Inventory) emit(id string, r reservation) *fn.Result {
	items := r.items
	if items == nil {
		items = []order.Item{}
	}
	return fn.Status(204).
		Emit(fn.ToStream(inv.Events, r.outcome, order.Stock{OrderID: id, Items: items, Reason: r.reason}).
			WithID(order.MessageID(id, r.outcome)).WithSubject(id)).
		Notify(order.Topic(id), order.NewUpdate(id, r.outcome, r.reason, time.Now()))
}
