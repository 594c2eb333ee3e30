package main

import (
	"testing"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func payment(typ, id string) *fn.Event {
	reason := ""
	if typ == order.PaymentFailed {
		reason = "card declined"
	}
	return fntest.Message("stream/order-events", typ, order.Payment{OrderID: id, Amount: 1, Reason: reason})
}

func stock(typ, id string) *fn.Event {
	reason := ""
	if typ == order.OutOfStock {
		reason = "gizmo: 1 wanted, 0 in stock"
	}
	return fntest.Message("stream/order-events", typ, order.Stock{OrderID: id, Items: []order.Item{}, Reason: reason})
}

// emitted invokes the saga and returns "target:type" of each emitted message.
func emitted(t *testing.T, s *Saga, ev *fn.Event) []string {
	t.Helper()
	res, err := fntest.Invoke(t, fn.HandlerFunc(s.Handle), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil {
		return nil
	}
	var out []string
	for _, m := range res.Emitted {
		out = append(out, m.Target+":"+m.Type)
		if m.Queue && m.Priority != order.PriorityRelease {
			t.Fatalf("ReleaseStock priority %d", m.Priority)
		}
	}
	if len(res.Notified) != 1 {
		t.Fatalf("notified %+v", res.Notified)
	}
	return out
}

func same(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfirmsWhenPaidAndReserved(t *testing.T) {
	for _, first := range []string{order.PaymentCompleted, order.StockReserved} {
		s := New("ev", "q", 10)
		evs := []*fn.Event{payment(order.PaymentCompleted, "a"), stock(order.StockReserved, "a")}
		if first == order.StockReserved {
			evs[0], evs[1] = evs[1], evs[0]
		}
		if got := emitted(t, s, evs[0]); got != nil {
			t.Fatalf("decided on one outcome: %v", got)
		}
		if got := emitted(t, s, evs[1]); !same(got, "ev:OrderConfirmed") {
			t.Fatalf("emitted %v", got)
		}
		// The deciding event redelivered: the same decision again; the other: nothing.
		if got := emitted(t, s, evs[1]); !same(got, "ev:OrderConfirmed") {
			t.Fatalf("redelivery emitted %v", got)
		}
		if got := emitted(t, s, evs[0]); got != nil {
			t.Fatalf("the other outcome again emitted %v", got)
		}
	}
}

func TestCancelsAndCompensates(t *testing.T) {
	s := New("ev", "q", 10)
	// Declined: cancel, and release the stock whether or not it was reserved yet.
	if got := emitted(t, s, payment(order.PaymentFailed, "a")); !same(got, "ev:OrderCancelled", "q:ReleaseStock") {
		t.Fatalf("declined: %v", got)
	}
	if got := emitted(t, s, stock(order.StockReserved, "a")); got != nil {
		t.Fatalf("late reservation: %v", got)
	}
	// Out of stock: cancel, nothing to release; payments refunds on OrderCancelled.
	if got := emitted(t, s, stock(order.OutOfStock, "b")); !same(got, "ev:OrderCancelled") {
		t.Fatalf("out of stock: %v", got)
	}
	if got := emitted(t, s, payment(order.PaymentCompleted, "b")); got != nil {
		t.Fatalf("late payment: %v", got)
	}
	// Reserved, then declined.
	emitted(t, s, stock(order.StockReserved, "c"))
	if got := emitted(t, s, payment(order.PaymentFailed, "c")); !same(got, "ev:OrderCancelled", "q:ReleaseStock") {
		t.Fatalf("reserved then declined: %v", got)
	}
}

func TestReasonAndPoison(t *testing.T) {
	s := New("ev", "q", 10)
	res, err := fntest.Invoke(t, fn.HandlerFunc(s.Handle), stock(order.OutOfStock, "a"), 0)
	if err != nil || string(res.Emitted[0].Data) != `{"orderId":"a","reason":"out of stock: gizmo: 1 wanted, 0 in stock"}` {
		t.Fatalf("%+v %v", res, err)
	}
	for _, ev := range []*fn.Event{
		fntest.Message("stream/order-events", order.PaymentCompleted, "garbage"),
		fntest.Message("stream/order-events", order.StockReserved, map[string]any{"orderId": ""}),
		fntest.Message("stream/order-events", order.OrderCreated, map[string]any{"orderId": "a"}),
	} {
		if _, err := fntest.Invoke(t, fn.HandlerFunc(s.Handle), ev, 0); err == nil {
			t.Fatalf("%s %s: no error", ev.Type, ev.Data)
		}
	}
}
