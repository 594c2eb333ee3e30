// Command create-order takes orders over HTTP: POST /orders validates the order, answers 201
// with its ID, and starts the workflow. It appends OrderCreated to the stream order-events
// (payments and the read model consume it) and queues ReserveStock on the priority queue
// stock-reservations, urgent orders with a higher priority, and notifies orders.{id}.
//
// With `Prefer: respond-async` the gateway answers 202 itself and runs this later; the 201
// comes back on GET /requests/{id} and on the WebSocket topic requests.{id}.
//
// Environment: ORDER_EVENTS (the stream, default order-events), STOCK_QUEUE (the queue,
// default stock-reservations).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	c := &Creator{
		Events: order.EnvName("ORDER_EVENTS", "order-events"),
		Queue:  order.EnvName("STOCK_QUEUE", "stock-reservations"),
	}
	fn.Serve(fn.HandlerFunc(c.Create))
}

// Creator creates orders.
type Creator struct {
	// Events is the stream OrderCreated goes to.
	Events string
	// Queue is the stock queue ReserveStock goes to.
	Queue string
	// NewID makes order IDs; nil makes 16 random hex digits.
	NewID func() string
}

// Created is the answer to POST /orders.
type Created struct {
	order.Order
	Status string `json:"status"`
}

const example = `{"customer":"ada","items":[{"sku":"widget","qty":2}],"amount":19.90,"urgent":false}`

// Create validates the order in the request body and starts its workflow. The client may
// choose the order's ID (orderId), so that it can subscribe to orders.{id} before it posts and
// miss no update; posting the same ID again is the same order: every function downstream
// keeps the first outcome it reached for an ID, so the workflow runs once.
func (c *Creator) Create(_ context.Context, ev *fn.Event) (*fn.Result, error) {
	var o order.Order
	if err := order.Decode(ev.Data, &o); err != nil {
		return nil, fn.Errorf(400, "an order is JSON like %s: %v", example, err)
	}
	if o.ID != "" && !order.ValidID(o.ID) {
		return nil, fn.Errorf(400, "orderId: must match [a-z0-9][a-z0-9-]{0,63}, or be left out, got %q", o.ID)
	}
	if err := o.Validate(); err != nil {
		return nil, fn.Errorf(400, "invalid order: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	o.Customer = strings.TrimSpace(o.Customer)
	if o.ID == "" {
		o.ID = c.newID()
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	prio := order.PriorityNormal
	if o.Urgent {
		prio = order.PriorityUrgent
	}
	return fn.JSON(201, Created{Order: o, Status: order.StatusCreated}).
		SetHeader("Location", "/orders/"+o.ID).
		Emit(
			fn.ToStream(c.Events, order.OrderCreated, o).WithID(order.MessageID(o.ID, order.OrderCreated)).WithSubject(o.ID),
			fn.ToQueue(c.Queue, order.ReserveStock, order.Stock{OrderID: o.ID, Items: o.Items}).
				WithID(order.MessageID(o.ID, order.ReserveStock)).WithSubject(o.ID).WithPriority(prio),
		).
		Notify(order.Topic(o.ID), order.NewUpdate(o.ID, order.OrderCreated, "", at)), nil
}

func (c *Creator) newID() string {
	if c.NewID != nil {
		return c.NewID()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
