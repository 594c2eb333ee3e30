package order

import (
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	o := Order{Customer: " ", Items: []Item{{SKU: "ok", Qty: 1}, {SKU: "ok", Qty: 0}, {SKU: "Bad", Qty: 1}}, Amount: 0}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"customer is required", `items[1].sku: "ok" is already on line 0`, "items[1].qty", "items[2].sku", "amount: above 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	good := Order{Customer: "ada", Items: []Item{{SKU: "widget", Qty: 2}}, Amount: 19.99}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	var s Stock
	for _, bad := range []string{"", `{"orderId":"a","extra":1}`, `{"orderId":"a"} {}`, `"a"`} {
		if err := Decode([]byte(bad), &s); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	if err := Decode([]byte(`{"orderId":"a","items":[]}`), &s); err != nil || s.OrderID != "a" {
		t.Fatal(err)
	}
}

func TestBookForgetsTheOldest(t *testing.T) {
	b := NewBook[int](2)
	for i, id := range []string{"a", "b", "a", "c"} {
		b.Do(id, func(v *int) { *v += i })
	}
	if b.Len() != 2 || b.Get("a", func(*int) {}) {
		t.Fatalf("len %d; a still there", b.Len())
	}
	var got []string
	b.Recent(5, func(id string, v *int) { got = append(got, id) })
	if strings.Join(got, ",") != "c,b" {
		t.Fatalf("recent %v", got)
	}
}

func TestUpdateNamesTheStep(t *testing.T) {
	for typ, s := range Steps {
		u := NewUpdate("a", typ, "", time.Time{})
		if u.Step != s.Step || u.Status != s.Status || u.Event != typ {
			t.Errorf("%s: %+v", typ, u)
		}
	}
	if Topic("a") != "orders.a" || MessageID("a", OrderCreated) != "a/OrderCreated" || Cents(13.13) != 1313 {
		t.Fatal("names")
	}
}
