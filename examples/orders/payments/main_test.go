package main

import (
	"encoding/json"
	"testing"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func payments(t *testing.T) *Payments {
	decline, err := ParseAmounts("13.13, 666")
	if err != nil {
		t.Fatal(err)
	}
	return New("order-events", decline, 100)
}

func created(id string, amount float64) *fn.Event {
	return fntest.Message("stream/order-events", order.OrderCreated,
		order.Order{ID: id, Customer: "ada", Items: []order.Item{{SKU: "widget", Qty: 1}}, Amount: amount})
}

func cancelled(id string) *fn.Event {
	return fntest.Message("stream/order-events", order.OrderCancelled, order.Decision{OrderID: id, Reason: "out of stock"})
}

// outcome invokes p with ev and returns the one event it emitted ("" when none) and its data.
func outcome(t *testing.T, p *Payments, ev *fn.Event) (string, order.Payment) {
	t.Helper()
	res, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || len(res.Emitted) == 0 {
		return "", order.Payment{}
	}
	m := res.Emitted[0]
	var pay order.Payment
	if err := json.Unmarshal(m.Data, &pay); err != nil {
		t.Fatal(err)
	}
	if len(res.Emitted) != 1 || m.Target != "order-events" || m.Queue || m.ID != pay.OrderID+"/"+m.Type {
		t.Fatalf("emitted %+v", res.Emitted)
	}
	if len(res.Notified) != 1 || res.Notified[0].Topic != "orders."+pay.OrderID {
		t.Fatalf("notified %+v", res.Notified)
	}
	return m.Type, pay
}

func TestChargeTakesOrDeclines(t *testing.T) {
	p := payments(t)
	if typ, pay := outcome(t, p, created("a", 19.9)); typ != order.PaymentCompleted || pay.PaymentID != "pay-a" || pay.Amount != 19.9 {
		t.Fatalf("19.90: %s %+v", typ, pay)
	}
	if typ, pay := outcome(t, p, created("b", 13.13)); typ != order.PaymentFailed || pay.Reason != "card declined" {
		t.Fatalf("13.13: %s %+v", typ, pay)
	}
	if typ, _ := outcome(t, p, created("c", 666)); typ != order.PaymentFailed {
		t.Fatalf("666: %s", typ)
	}
	// A redelivery gets the same outcome under the same ID, whatever the amount says now.
	if typ, _ := outcome(t, p, created("b", 20)); typ != order.PaymentFailed {
		t.Fatalf("redelivered b: %s", typ)
	}
}

func TestCancelRefundsOrVoids(t *testing.T) {
	p := payments(t)
	outcome(t, p, created("a", 10))
	if typ, pay := outcome(t, p, cancelled("a")); typ != order.PaymentRefunded || pay.Amount != 10 || pay.Reason != "order cancelled: out of stock" {
		t.Fatalf("cancel after charge: %s %+v", typ, pay)
	}
	if typ, _ := outcome(t, p, cancelled("a")); typ != order.PaymentRefunded {
		t.Fatalf("cancel redelivered: %s", typ)
	}
	// Cancelled before it was charged: never charged.
	if typ, _ := outcome(t, p, cancelled("b")); typ != "" {
		t.Fatalf("cancel before charge emitted %s", typ)
	}
	if typ, _ := outcome(t, p, created("b", 10)); typ != order.PaymentCancelled {
		t.Fatalf("charge after cancel: %s", typ)
	}
	// A declined payment needs no refund.
	outcome(t, p, created("c", 13.13))
	if typ, _ := outcome(t, p, cancelled("c")); typ != "" {
		t.Fatalf("cancel of a declined payment emitted %s", typ)
	}
}

func TestPoisonEventsFail(t *testing.T) {
	p := payments(t)
	for _, ev := range []*fn.Event{
		fntest.Message("stream/order-events", order.OrderCreated, "garbage"),
		fntest.Message("stream/order-events", order.OrderCreated, map[string]any{"orderId": "Not An ID"}),
		fntest.Message("stream/order-events", order.OrderCancelled, []byte(`{"orderId":7}`)),
		created("neg", -10),
		fntest.Message("stream/order-events", "SomethingElse", map[string]any{}),
	} {
		if _, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), ev, 0); err == nil {
			t.Fatalf("%s %s: no error", ev.Type, ev.Data)
		}
	}
}

func TestParseAmounts(t *testing.T) {
	got, err := ParseAmounts(" 13.13,666 ,, 0.1")
	if err != nil || len(got) != 3 || !got[1313] || !got[66600] || !got[10] {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"abc", "-3", "1,x"} {
		if _, err := ParseAmounts(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}
