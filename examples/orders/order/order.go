// Package order is the vocabulary the functions of the order workflow share: the order, the
// events they exchange on the stream order-events and the queue stock-reservations, the
// notification browsers get on the WebSocket topic orders.{id}, and a bounded in-memory book
// of per-order state. Data enters as JSON event payloads and leaves as the same.
package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event types on the stream (facts) and the queue (commands to the inventory).
const (
	OrderCreated     = "OrderCreated"
	PaymentCompleted = "PaymentCompleted"
	PaymentFailed    = "PaymentFailed"
	PaymentRefunded  = "PaymentRefunded"
	PaymentCancelled = "PaymentCancelled" // the order was cancelled before it was charged
	StockReserved    = "StockReserved"
	OutOfStock       = "OutOfStock"
	StockReleased    = "StockReleased"
	OrderConfirmed   = "OrderConfirmed"
	OrderCancelled   = "OrderCancelled"

	ReserveStock = "ReserveStock" // command on the stock queue
	ReleaseStock = "ReleaseStock" // command on the stock queue: the saga's compensation
)

// Priorities on the stock queue (its manifest declares maxPriority: 10).
const (
	PriorityNormal  = 1
	PriorityUrgent  = 8
	PriorityRelease = 10 // compensation goes before new reservations
)

// Limits of an order, checked by Validate.
const (
	MaxItems    = 20
	MaxQty      = 1000
	MaxAmount   = 1_000_000
	MaxCustomer = 64
)

// Item is one line of an order.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// Order is what POST /orders takes (without ID) and what OrderCreated carries.
type Order struct {
	ID       string  `json:"orderId"`
	Customer string  `json:"customer"`
	Items    []Item  `json:"items"`
	Amount   float64 `json:"amount"`
	Urgent   bool    `json:"urgent,omitempty"`
}

// Payment is the data of PaymentCompleted, PaymentFailed, PaymentRefunded and PaymentCancelled.
type Payment struct {
	OrderID   string  `json:"orderId"`
	Amount    float64 `json:"amount"`
	PaymentID string  `json:"paymentId,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

// Stock is the data of StockReserved, OutOfStock and StockReleased, and of the ReserveStock and
// ReleaseStock commands.
type Stock struct {
	OrderID string `json:"orderId"`
	Items   []Item `json:"items"`
	Reason  string `json:"reason,omitempty"`
}

// Decision is the data of OrderConfirmed and OrderCancelled.
type Decision struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason,omitempty"`
}

// Update is a notification on orders.{id}: one step of the workflow.
type Update struct {
	OrderID string `json:"orderId"`
	// Event is the event type that the step produced.
	Event string `json:"event"`
	// Step is "order", "payment" or "stock".
	Step string `json:"step"`
	// Status is the step's status: for order created, confirmed or cancelled; for payment
	// paid, declined, refunded or cancelled; for stock reserved, out_of_stock or released.
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Step statuses, as Update and the read model name them.
const (
	StatusPending    = "pending"
	StatusCreated    = "created"
	StatusConfirmed  = "confirmed"
	StatusCancelled  = "cancelled"
	StatusPaid       = "paid"
	StatusDeclined   = "declined"
	StatusRefunded   = "refunded"
	StatusReserved   = "reserved"
	StatusOutOfStock = "out_of_stock"
	StatusReleased   = "released"
)

// Steps maps every event type of the stream to the step it settles and that step's status.
var Steps = map[string]struct{ Step, Status string }{
	OrderCreated:     {"order", StatusCreated},
	OrderConfirmed:   {"order", StatusConfirmed},
	OrderCancelled:   {"order", StatusCancelled},
	PaymentCompleted: {"payment", StatusPaid},
	PaymentFailed:    {"payment", StatusDeclined},
	PaymentRefunded:  {"payment", StatusRefunded},
	PaymentCancelled: {"payment", StatusCancelled},
	StockReserved:    {"stock", StatusReserved},
	OutOfStock:       {"stock", StatusOutOfStock},
	StockReleased:    {"stock", StatusReleased},
}

// NewUpdate is the notification of the event eventType about the order id.
func NewUpdate(id, eventType, reason string, at time.Time) Update {
	s := Steps[eventType]
	return Update{OrderID: id, Event: eventType, Step: s.Step, Status: s.Status, Reason: reason, At: at.UTC()}
}

// Topic is the WebSocket topic of an order's updates.
func Topic(id string) string { return "orders." + id }

// MessageID is the ID of the event eventType about order id. Every function emits a given
// outcome under the same ID, also when it emits it again on a redelivery, so consumers
// de-duplicate on it.
func MessageID(id, eventType string) string { return id + "/" + eventType }

var (
	idRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	skuRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// ValidID reports whether id can be an order ID: it is one segment of a WebSocket topic.
func ValidID(id string) bool { return idRE.MatchString(id) }

// Validate checks an order as a client sent it, returning every problem.
func (o *Order) Validate() error {
	var errs []error
	switch n := utf8.RuneCountInString(strings.TrimSpace(o.Customer)); {
	case n == 0:
		errs = append(errs, errors.New("customer is required"))
	case n > MaxCustomer:
		errs = append(errs, fmt.Errorf("customer is %d characters; at most %d", n, MaxCustomer))
	}
	errs = append(errs, checkItems(o.Items)...)
	switch c := o.Amount * 100; {
	case math.IsNaN(o.Amount) || o.Amount <= 0 || o.Amount > MaxAmount:
		errs = append(errs, fmt.Errorf("amount: above 0 and at most %d, got %v", MaxAmount, o.Amount))
	case math.Abs(c-math.Round(c)) > 1e-6:
		errs = append(errs, fmt.Errorf("amount: at most two decimals, got %v", o.Amount))
	}
	return errors.Join(errs...)
}

// ValidateItems checks the lines of an order: 1 to MaxItems, each SKU once, each quantity
// between 1 and MaxQty.
func ValidateItems(items []Item) error { return errors.Join(checkItems(items)...) }

func checkItems(items []Item) []error {
	var errs []error
	if len(items) == 0 || len(items) > MaxItems {
		errs = append(errs, fmt.Errorf("items: between 1 and %d lines, got %d", MaxItems, len(items)))
	}
	seen := map[string]bool{}
	for i, it := range items {
		if !skuRE.MatchString(it.SKU) {
			errs = append(errs, fmt.Errorf("items[%d].sku: must match [a-z0-9][a-z0-9-]{0,31}, got %q", i, it.SKU))
		} else if seen[it.SKU] {
			errs = append(errs, fmt.Errorf("items[%d].sku: %q is already on line %d", i, it.SKU, index(items, it.SKU)))
		}
		seen[it.SKU] = true
		if it.Qty < 1 || it.Qty > MaxQty {
			errs = append(errs, fmt.Errorf("items[%d].qty: between 1 and %d, got %d", i, MaxQty, it.Qty))
		}
	}
	return errs
}

func index(items []Item, sku string) int {
	for i, it := range items {
		if it.SKU == sku {
			return i
		}
	}
	return -1
}

// Cents is an amount in cents, rounded.
func Cents(amount float64) int64 { return int64(math.Round(amount * 100)) }

// Decode unmarshals JSON data into v, refusing unknown fields and trailing data: a payload
// that does not look like what was expected is an error, not a zero value.
func Decode(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("no data")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// EnvInt reads a positive integer from the environment, def when unset.
func EnvInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: must be a positive integer", name, s)
	}
	return n, nil
}

// EnvName reads a queue or stream name from the environment, def when unset.
func EnvName(name, def string) string {
	if s := os.Getenv(name); s != "" {
		return s
	}
	return def
}
