package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/examples/orders/order"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func creator() *Creator {
	return &Creator{Events: "order-events", Queue: "stock-reservations", NewID: func() string { return "o1" }}
}

func TestCreateStartsTheWorkflow(t *testing.T) {
	for _, urgent := range []bool{false, true} {
		body := order.Order{Customer: " ada ", Items: []order.Item{{SKU: "widget", Qty: 2}}, Amount: 19.9, Urgent: urgent}
		res, err := fntest.Invoke(t, fn.HandlerFunc(creator().Create), fntest.HTTP("POST", "/orders", nil, body), 0)
		if err != nil {
			t.Fatal(err)
		}
		var got Created
		if err := json.Unmarshal(res.Body, &got); err != nil {
			t.Fatal(err)
		}
		if res.Status != 201 || got.ID != "o1" || got.Status != "created" || got.Customer != "ada" || res.Headers["Location"] != "/orders/o1" {
			t.Fatalf("answer %d %s %v", res.Status, res.Body, res.Headers)
		}
		if len(res.Emitted) != 2 {
			t.Fatalf("emitted %+v", res.Emitted)
		}
		created, reserve := res.Emitted[0], res.Emitted[1]
		if created.Queue || created.Target != "order-events" || created.Type != "OrderCreated" || created.ID != "o1/OrderCreated" {
			t.Fatalf("OrderCreated %+v", created)
		}
		wantPrio := order.PriorityNormal
		if urgent {
			wantPrio = order.PriorityUrgent
		}
		if !reserve.Queue || reserve.Target != "stock-reservations" || reserve.Type != "ReserveStock" || reserve.Priority != wantPrio ||
			string(reserve.Data) != `{"orderId":"o1","items":[{"sku":"widget","qty":2}]}` {
			t.Fatalf("ReserveStock %+v (%s)", reserve, reserve.Data)
		}
		if len(res.Notified) != 1 || res.Notified[0].Topic != "orders.o1" || !strings.Contains(string(res.Notified[0].Data), `"status":"created"`) {
			t.Fatalf("notified %+v", res.Notified)
		}
	}
}

func TestCreateRefusesBadOrders(t *testing.T) {
	cases := []struct {
		name string
		body any
		want string
	}{
		{"no body", nil, "an order is JSON"},
		{"not JSON", "an order", "an order is JSON"},
		{"unknown field", `{"customer":"ada","items":[{"sku":"a","qty":1}],"amount":1,"price":3}`, `unknown field "price"`},
		{"wrong type", `{"customer":"ada","items":"widget","amount":1}`, "an order is JSON"},
		{"two values", `{"customer":"ada","items":[{"sku":"a","qty":1}],"amount":1} {}`, "data after"},
		{"bad id", `{"orderId":"X.1","customer":"ada","items":[{"sku":"a","qty":1}],"amount":1}`, "orderId: must match"},
		{"no customer", `{"items":[{"sku":"a","qty":1}],"amount":1}`, "customer is required"},
		{"no items", `{"customer":"ada","items":[],"amount":1}`, "items: between 1 and 20"},
		{"bad sku", `{"customer":"ada","items":[{"sku":"Wid get","qty":1}],"amount":1}`, "items[0].sku"},
		{"twice the sku", `{"customer":"ada","items":[{"sku":"a","qty":1},{"sku":"a","qty":2}],"amount":1}`, `"a" is already on line 0`},
		{"zero qty", `{"customer":"ada","items":[{"sku":"a","qty":0}],"amount":1}`, "items[0].qty"},
		{"negative amount", `{"customer":"ada","items":[{"sku":"a","qty":1}],"amount":-5}`, "amount: above 0"},
		{"fractions of cents", `{"customer":"ada","items":[{"sku":"a","qty":1}],"amount":1.001}`, "two decimals"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if s, ok := body.(string); ok && strings.HasPrefix(s, "{") {
				body = []byte(s)
			}
			res, err := fntest.Invoke(t, fn.HandlerFunc(creator().Create), fntest.HTTP("POST", "/orders", nil, body), 0)
			var fe *fn.Error
			if !errors.As(err, &fe) || fe.Status != 400 {
				t.Fatalf("got %+v, %v; want a 400", res, err)
			}
			if !strings.Contains(fe.Message, c.want) {
				t.Fatalf("message %q does not say %q", fe.Message, c.want)
			}
		})
	}
}

func TestCreateTakesTheClientsID(t *testing.T) {
	body := []byte(`{"orderId":"mine-1","customer":"ada","items":[{"sku":"a","qty":1}],"amount":1}`)
	res, err := fntest.Invoke(t, fn.HandlerFunc(creator().Create), fntest.HTTP("POST", "/orders", nil, body), 0)
	if err != nil || res.Headers["Location"] != "/orders/mine-1" || res.Emitted[0].ID != "mine-1/OrderCreated" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestCreateMakesRandomIDs(t *testing.T) {
	c := &Creator{}
	a, b := c.newID(), c.newID()
	if a == b || !order.ValidID(a) {
		t.Fatalf("ids %q %q", a, b)
	}
}
