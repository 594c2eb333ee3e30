package main

import (
	"encoding/json"
	"testing"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func inventory(t *testing.T) *Inventory {
	stock, err := ParseStock("widget=10, gadget=2, gizmo=0")
	if err != nil {
		t.Fatal(err)
	}
	return New("order-events", stock, 100)
}

func reserve(id string, items ...order.Item) *fn.Event {
	return fntest.Message("queue/stock-reservations", order.ReserveStock, order.Stock{OrderID: id, Items: items})
}

func release(id string) *fn.Event {
	return fntest.Message("queue/stock-reservations", order.ReleaseStock, order.Stock{OrderID: id, Reason: "card declined"})
}

// outcome invokes inv with ev and returns the event it emitted ("" when none) and its data.
func outcome(t *testing.T, inv *Inventory, ev *fn.Event) (string, order.Stock) {
	t.Helper()
	res, err := fntest.Invoke(t, fn.HandlerFunc(inv.Handle), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil {
		return "", order.Stock{}
	}
	if len(res.Emitted) != 1 || len(res.Notified) != 1 {
		t.Fatalf("result %+v", res)
	}
	m := res.Emitted[0]
	var s order.Stock
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatal(err)
	}
	if m.Queue || m.Target != "order-events" || m.ID != s.OrderID+"/"+m.Type || res.Notified[0].Topic != "orders."+s.OrderID {
		t.Fatalf("emitted %+v, notified %+v", m, res.Notified)
	}
	return m.Type, s
}

func TestReserveAllOrNothing(t *testing.T) {
	inv := inventory(t)
	w3, g2 := order.Item{SKU: "widget", Qty: 3}, order.Item{SKU: "gadget", Qty: 2}
	if typ, s := outcome(t, inv, reserve("a", w3, g2)); typ != order.StockReserved || len(s.Items) != 2 {
		t.Fatalf("a: %s %+v", typ, s)
	}
	// No gadget left: nothing of b is taken.
	if typ, s := outcome(t, inv, reserve("b", w3, order.Item{SKU: "gadget", Qty: 1})); typ != order.OutOfStock || s.Reason != "gadget: 1 wanted, 0 in stock" {
		t.Fatalf("b: %s %+v", typ, s)
	}
	if typ, _ := outcome(t, inv, reserve("c", order.Item{SKU: "unknown", Qty: 1})); typ != order.OutOfStock {
		t.Fatalf("unknown sku: %s", typ)
	}
	if l := inv.Levels(); l["widget"] != 7 || l["gadget"] != 0 {
		t.Fatalf("levels %v", l)
	}
	// A redelivered reservation reserves nothing more and says the same.
	if typ, _ := outcome(t, inv, reserve("a", w3, g2)); typ != order.StockReserved || inv.Levels()["widget"] != 7 {
		t.Fatalf("redelivered a: %s %v", typ, inv.Levels())
	}
}

func TestReleaseCompensates(t *testing.T) {
	inv := inventory(t)
	outcome(t, inv, reserve("a", order.Item{SKU: "widget", Qty: 4}))
	if typ, s := outcome(t, inv, release("a")); typ != order.StockReleased || len(s.Items) != 1 || inv.Levels()["widget"] != 10 {
		t.Fatalf("release a: %s %+v %v", typ, s, inv.Levels())
	}
	if typ, _ := outcome(t, inv, release("a")); typ != order.StockReleased || inv.Levels()["widget"] != 10 {
		t.Fatalf("release a again: %s %v", typ, inv.Levels())
	}
	// Released before it was reserved: the reservation that comes later takes nothing.
	if typ, s := outcome(t, inv, release("b")); typ != order.StockReleased || len(s.Items) != 0 {
		t.Fatalf("early release: %s %+v", typ, s)
	}
	if typ, _ := outcome(t, inv, reserve("b", order.Item{SKU: "widget", Qty: 1})); typ != "" || inv.Levels()["widget"] != 10 {
		t.Fatalf("reserve after release: %s %v", typ, inv.Levels())
	}
}

func TestStockLevelsOverHTTP(t *testing.T) {
	res, err := fntest.Invoke(t, fn.HandlerFunc(inventory(t).Handle), fntest.HTTP("GET", "/stock", nil, nil), 0)
	if err != nil || res.Status != 200 || string(res.Body) != `{"gadget":2,"gizmo":0,"widget":10}` {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestPoisonMessagesFail(t *testing.T) {
	inv := inventory(t)
	for _, ev := range []*fn.Event{
		fntest.Message("queue/stock-reservations", order.ReserveStock, "garbage"),
		fntest.Message("queue/stock-reservations", order.ReserveStock, []byte(`{"orderId":"a","items":"widget"}`)),
		fntest.Message("queue/stock-reservations", order.ReserveStock, order.Stock{OrderID: "a"}),
		fntest.Message("queue/stock-reservations", order.ReserveStock, order.Stock{OrderID: "a", Items: []order.Item{{SKU: "widget", Qty: -5}}}),
		fntest.Message("queue/stock-reservations", order.ReserveStock, order.Stock{OrderID: "A B", Items: []order.Item{{SKU: "widget", Qty: 1}}}),
		fntest.Message("queue/stock-reservations", "Restock", order.Stock{OrderID: "a"}),
	} {
		if _, err := fntest.Invoke(t, fn.HandlerFunc(inv.Handle), ev, 0); err == nil {
			t.Fatalf("%s %s: no error", ev.Type, ev.Data)
		}
	}
	if inv.Levels()["widget"] != 10 {
		t.Fatalf("poison changed the stock: %v", inv.Levels())
	}
}

func TestParseStock(t *testing.T) {
	for _, bad := range []string{"widget", "widget=x", "widget=-1"} {
		if _, err := ParseStock(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}
