package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func event(typ string, data any, at int) *fn.Event {
	ev := fntest.Message("stream/order-events", typ, data)
	ev.Time = t0.Add(time.Duration(at) * time.Second)
	if m, ok := data.(map[string]any); ok {
		ev.ID = m["orderId"].(string) + "/" + typ
	}
	return ev
}

func apply(t *testing.T, p *Projector, evs ...*fn.Event) {
	t.Helper()
	for _, ev := range evs {
		if _, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), ev, 0); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
	}
}

func get(t *testing.T, p *Projector, id string) (View, error) {
	t.Helper()
	res, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), fntest.HTTP("GET", "/orders/"+id, map[string]string{"id": id}, nil), 0)
	var v View
	if err == nil {
		if res.Status != 200 {
			t.Fatalf("status %d", res.Status)
		}
		if err := json.Unmarshal(res.Body, &v); err != nil {
			t.Fatal(err)
		}
	}
	return v, err
}

func TestProjectsTheHappyPath(t *testing.T) {
	p := New(100)
	apply(t, p,
		event(order.StockReserved, map[string]any{"orderId": "a", "items": []any{}}, 2), // before OrderCreated: delivered out of order
		event(order.OrderCreated, map[string]any{"orderId": "a", "customer": "ada", "items": []any{map[string]any{"sku": "widget", "qty": 2}}, "amount": 19.9, "urgent": true}, 1),
		event(order.PaymentCompleted, map[string]any{"orderId": "a", "amount": 19.9, "paymentId": "pay-a"}, 3),
		event(order.OrderConfirmed, map[string]any{"orderId": "a"}, 4),
		event(order.PaymentCompleted, map[string]any{"orderId": "a", "amount": 19.9, "paymentId": "pay-a"}, 3), // redelivered
	)
	v, err := get(t, p, "a")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != "confirmed" || v.Payment != "paid" || v.Stock != "reserved" || v.Customer != "ada" || !v.Urgent ||
		len(v.Items) != 1 || v.Amount != 19.9 || len(v.Events) != 4 {
		t.Fatalf("view %+v", v)
	}
	if v.Events[0].Type != order.OrderCreated || v.Events[3].Type != order.OrderConfirmed {
		t.Fatalf("events not by time: %+v", v.Events)
	}
}

func TestStatusesNeverGoBack(t *testing.T) {
	p := New(100)
	apply(t, p,
		event(order.OrderCreated, map[string]any{"orderId": "b", "customer": "bo", "items": []any{}, "amount": 1}, 1),
		event(order.OrderCancelled, map[string]any{"orderId": "b", "reason": "out of stock: gizmo"}, 3),
		event(order.PaymentRefunded, map[string]any{"orderId": "b", "amount": 1}, 5),
		event(order.PaymentCompleted, map[string]any{"orderId": "b", "amount": 1}, 2), // arrives late
		event(order.OutOfStock, map[string]any{"orderId": "b", "items": []any{}, "reason": "gizmo"}, 2),
	)
	v, _ := get(t, p, "b")
	if v.Status != "cancelled" || v.Reason != "out of stock: gizmo" || v.Payment != "refunded" || v.Stock != "out_of_stock" {
		t.Fatalf("view %+v", v)
	}
}

func TestGetAndList(t *testing.T) {
	p := New(2)
	for i, id := range []string{"a", "b", "c"} {
		apply(t, p, event(order.OrderCreated, map[string]any{"orderId": id, "customer": "x", "items": []any{}, "amount": 1}, i))
	}
	var fe *fn.Error
	if _, err := get(t, p, "a"); !errors.As(err, &fe) || fe.Status != 404 { // the oldest, forgotten past MAX_ORDERS
		t.Fatalf("forgotten order: %v", err)
	}
	if _, err := get(t, p, "nope"); !errors.As(err, &fe) || fe.Status != 404 {
		t.Fatalf("unknown order: %v", err)
	}
	res, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), fntest.HTTP("GET", "/orders?limit=5", nil, nil), 0)
	var list struct{ Orders []View }
	if err != nil || json.Unmarshal(res.Body, &list) != nil || len(list.Orders) != 2 || list.Orders[0].ID != "c" {
		t.Fatalf("list %s %v", res.Body, err)
	}
	if _, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), fntest.HTTP("GET", "/orders?limit=0", nil, nil), 0); !errors.As(err, &fe) || fe.Status != 400 {
		t.Fatalf("limit=0: %v", err)
	}
}

func TestSkipsOtherEventsAndFailsPoison(t *testing.T) {
	p := New(10)
	if res, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), event("ReserveStock", map[string]any{"orderId": "a"}, 0), 0); err != nil || res != nil {
		t.Fatalf("an unknown type: %+v %v", res, err)
	}
	if _, err := fntest.Invoke(t, fn.HandlerFunc(p.Handle), fntest.Message("stream/order-events", order.OrderCreated, "garbage"), 0); err == nil {
		t.Fatal("garbage projected")
	}
}
