package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestOrdersPage drives examples/orders/web (what `make orders` serves) in headless Chromium
// against the real binary and plugins: the page places orders through its form, follows each
// on orders.{id} over WebSocket with edgefn.js, and shows it go live to its final status:
// confirmed, cancelled after a declined payment, and confirmed again when placed async
// (Prefer: respond-async, the reply on GET /requests/{id}). A refused order shows the 400's
// message, and a reloaded page shows the orders from the read model.
func TestOrdersPage(t *testing.T) {
	chrome := findChromium(t)
	a := startOrders(t)
	ctx, console := newBrowser(t, chrome)
	defer func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", console.String())
			if rows := (&demoPage{t: t, ctx: ctx}).texts("#orders tr"); len(rows) > 0 {
				t.Logf("orders on the page:\n%s", strings.Join(rows, "\n"))
			}
		}
	}()
	page := &demoPage{t: t, ctx: ctx}
	page.do(chromedp.Navigate(a.g.URL + "/"))
	page.waitState("live")
	page.poll(`document.querySelector("#sku").options.length === 3 && !document.querySelector("#place").disabled`,
		"the products from GET /stock and the form enabled")

	// Each order gets its own row, newest first; the test follows the row it just added.
	rows := 0
	placeOrder := func(customer, sku string, qty int, amount string, async bool) string {
		t.Helper()
		page.eval(fmt.Sprintf(`(() => {
			document.querySelector("#customer").value = %q;
			document.querySelector("#sku").value = %q;
			document.querySelector("#qty").value = "%d";
			document.querySelector("#amount").value = %q;
			document.querySelector("#async").checked = %t;
		})()`, customer, sku, qty, amount, async))
		page.do(chromedp.Click(chromedp.CSS("#place")))
		rows++
		page.poll(fmt.Sprintf(`document.querySelectorAll("#orders tr").length === %d`, rows), "the order's row")
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#orders tr").id`))
		if err != nil || !strings.HasPrefix(got, "order-") {
			t.Fatalf("the new row's id is %q (%v)", got, err)
		}
		return strings.TrimPrefix(got, "order-")
	}
	// waitFinal waits until the row shows the statuses and the order's final update came
	// over the WebSocket (not only from the read model).
	waitFinal := func(id, status, payment, stock, event string) {
		t.Helper()
		row := fmt.Sprintf(`document.querySelector("#order-%s")`, id)
		page.pollWithin(fmt.Sprintf(`%[1]s.dataset.status === %[2]q && %[1]s.querySelector(".payment").dataset.status === %[3]q &&
			%[1]s.querySelector(".stock").dataset.status === %[4]q && %[1]s.querySelector('li[data-event=%[5]q]') !== null`,
			row, status, payment, stock, event), fmt.Sprintf("order %s %s/%s/%s with %s", id, status, payment, stock, event), 20*time.Second)
	}

	id := placeOrder("chromium", "widget", 2, "19.90", false)
	waitFinal(id, "confirmed", "paid", "reserved", "OrderConfirmed")
	// The page's order is the read model's.
	v := a.waitView(t, id, "confirmed", func(v orderView) bool { return v.Status == "confirmed" })
	if v.Customer != "chromium" || v.Amount != 19.90 {
		t.Fatalf("read model %+v", v)
	}
	page.poll(fmt.Sprintf(`document.querySelector("#order-%s .view").textContent.startsWith("confirmed")`, id),
		"the read model's view on the page")

	id = placeOrder("chromium", "widget", 1, "13.13", false)
	waitFinal(id, "cancelled", "declined", "released", "OrderCancelled")
	page.poll(fmt.Sprintf(`document.querySelector("#order-%s .reason").textContent.includes("card declined")`, id),
		"the cancellation's reason")

	id = placeOrder("chromium", "gadget", 1, "7.50", true)
	waitFinal(id, "confirmed", "paid", "reserved", "OrderConfirmed")

	// A refused order: no row, and the gateway's 400 message; placed async, the same 400
	// comes as the reply of GET /requests/{id}.
	for _, async := range []bool{false, true} {
		page.eval(fmt.Sprintf(`document.querySelector("#error").textContent = "";
			document.querySelector("#customer").value = "   ";
			document.querySelector("#async").checked = %t`, async))
		page.do(chromedp.Click(chromedp.CSS("#place")))
		page.poll(`document.querySelector("#error").textContent.includes("customer is required")`, "the 400's message")
		page.poll(fmt.Sprintf(`document.querySelectorAll("#orders tr").length === %d`, rows), "the refused order's row gone")
	}

	// Reloaded, the page starts from the read model (GET /orders): the three orders, final.
	page.do(chromedp.Navigate(a.g.URL + "/"))
	page.waitState("live")
	page.poll(`document.querySelectorAll("#orders tr").length === 3 &&
		document.querySelectorAll('#orders tr[data-status="confirmed"] .payment[data-status="paid"]').length === 2 &&
		document.querySelectorAll('#orders tr[data-status="cancelled"] .stock[data-status="released"]').length === 1`,
		"the orders from the read model after a reload")
}
