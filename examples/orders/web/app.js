// The order workflow's page. It places orders with POST /orders (optionally async), follows
// each on the WebSocket topic orders.{id} with edgefn.js, and shows the read model
// (GET /orders/{id}), starting with the orders it already has (GET /orders). Each order is a <tr id="order-ID" data-status="..."> whose cells
// .status, .payment and .stock carry data-status: the end-to-end test
// (e2e/orders_browser_test.go) waits on those, and on #state[data-state].
import { EdgefnClient } from "./edgefn.js";

const $ = (id) => document.getElementById(id);

// rank orders the statuses of a step, as the read model does: updates may arrive in any
// order (and the read model may lag), and a status never goes back to a lower rank.
const rank = {
  pending: 0, placing: 0, accepted: 0,
  created: 1, confirmed: 2, cancelled: 2,
  paid: 1, declined: 1, refunded: 2,
  reserved: 1, out_of_stock: 1, released: 2,
};
const final = (o) => rank[o.status] === 2;

const orders = new Map(); // id -> {status, payment, stock, reason, row}

const client = new EdgefnClient("/ws", {
  onState(state) {
    $("state").textContent = state;
    $("state").dataset.state = state;
    $("place").disabled = state !== "live";
  },
});
window.edgefnClient = client; // for the console and the end-to-end test

function newID() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function cell(row, name, text) {
  const td = document.createElement("td");
  td.className = name;
  if (text !== undefined) td.textContent = text;
  row.append(td);
  return td;
}

function addRow(id, summary) {
  const row = document.createElement("tr");
  row.id = `order-${id}`;
  cell(row, "id", summary);
  for (const step of ["status", "payment", "stock"]) {
    const td = cell(row, step);
    td.dataset.status = "";
    const badge = document.createElement("span");
    badge.className = "badge";
    td.append(badge);
  }
  const updates = document.createElement("ol");
  updates.className = "updates";
  cell(row, "updates").append(updates);
  cell(row, "view", "");
  $("orders").prepend(row);
  const o = { status: "placing", payment: "pending", stock: "pending", reason: "", row };
  orders.set(id, o);
  render(o);
  return o;
}

function render(o) {
  o.row.dataset.status = o.status;
  for (const step of ["status", "payment", "stock"]) {
    const td = o.row.querySelector(`.${step}`);
    td.dataset.status = o[step];
    td.querySelector(".badge").textContent = o[step].replace("_", " ");
    td.querySelector(".badge").dataset.status = o[step];
  }
  let reason = o.row.querySelector(".status .reason");
  if (o.reason && !reason) {
    reason = document.createElement("div");
    reason.className = "reason";
    o.row.querySelector(".status").append(reason);
  }
  if (reason) reason.textContent = o.reason;
}

// merge applies a step's status (from an update or the read model) when it moves forward.
function merge(o, step, status, reason) {
  const key = step === "order" ? "status" : step;
  if ((rank[status] ?? -1) > (rank[o[key]] ?? -1)) o[key] = status;
  if (reason && step === "order") o.reason = reason;
}

// onUpdate handles a publication on orders.{id}.
function onUpdate(id, u) {
  const o = orders.get(id);
  if (!o) return;
  const li = document.createElement("li");
  li.dataset.event = u.event;
  li.textContent = `${u.event}` + (u.reason ? ` (${u.reason})` : "");
  o.row.querySelector(".updates").append(li);
  merge(o, u.step, u.status, u.reason);
  render(o);
  if (u.step === "order" && final(o)) {
    refresh(id);
    loadStock();
loadRecent();
  }
}

// refresh reads the order's view from the read model and merges it.
async function refresh(id) {
  const o = orders.get(id);
  const res = await fetch(`/orders/${id}`);
  if (!res.ok) return false; // not projected yet: the updates will come
  const v = await res.json();
  merge(o, "order", v.status, v.reason);
  merge(o, "payment", v.payment);
  merge(o, "stock", v.stock);
  o.row.querySelector(".view").textContent = `${v.status} · ${v.events.length} events`;
  render(o);
  return final(o);
}

async function loadStock() {
  const res = await fetch("/stock");
  if (!res.ok) return;
  const levels = await res.json();
  $("stock").textContent = Object.entries(levels).map(([sku, n]) => `${sku}: ${n}`).join(" · ");
  const select = $("sku");
  if (select.options.length === 0) {
    for (const sku of Object.keys(levels)) select.add(new Option(sku, sku));
  }
}

// loadRecent shows the orders the read model already has (placed elsewhere, or before a
// reload) and follows those not decided yet.
async function loadRecent() {
  const res = await fetch("/orders?limit=20");
  if (!res.ok) return;
  const { orders: views } = await res.json();
  for (const v of views.reverse()) {
    if (orders.has(v.orderId)) continue;
    const line = v.items?.[0] ? `${v.items[0].qty} × ${v.items[0].sku}, ` : "";
    const o = addRow(v.orderId, `${v.customer}: ${line}${v.amount}` + (v.urgent ? " (urgent)" : ""));
    o.status = "pending";
    if (!final(v)) client.subscribe(`orders.${v.orderId}`, (u) => onUpdate(v.orderId, u));
    refresh(v.orderId);
  }
}

async function errorOf(res) {
  const body = await res.json().catch(() => ({}));
  return body.error?.message || `HTTP ${res.status}`;
}

// place posts an order. It subscribes to orders.{id} first, with an ID of its own choosing,
// so that no update is missed; the read model fills in what came before the subscription.
async function place(order, async) {
  const id = newID();
  const o = addRow(id, `${order.customer}: ${order.items[0].qty} × ${order.items[0].sku}, ${order.amount}` + (order.urgent ? " (urgent)" : ""));
  const unsubscribe = client.subscribe(`orders.${id}`, (u) => onUpdate(id, u), { onRecoveryFailed: () => refresh(id) });
  const headers = { "Content-Type": "application/json" };
  if (async) headers.Prefer = "respond-async";
  const res = await fetch("/orders", { method: "POST", headers, body: JSON.stringify({ orderId: id, ...order }) });
  const fail = (msg) => {
    unsubscribe();
    o.row.remove();
    orders.delete(id);
    $("error").textContent = msg;
  };
  if (res.status === 202) {
    // The gateway accepted it; create-order runs from the queue (async request-reply). Its
    // answer comes on GET /requests/{rid}, which ?wait= holds until it is there (it is also
    // published on the WebSocket topic requests.{rid}; the order's own updates keep coming
    // on orders.{id} meanwhile).
    if (o.status === "placing") o.status = "accepted";
    render(o);
    const location = res.headers.get("Location");
    for (;;) {
      const reply = await fetch(`${location}?wait=10s`);
      if (reply.status === 202) continue; // still pending
      if (!reply.ok) return fail(await errorOf(reply));
      break;
    }
    refreshSoon(id);
    return;
  }
  if (!res.ok) return fail(await errorOf(res));
  if (o.status === "placing") o.status = "created";
  render(o);
  refreshSoon(id);
}

// refreshSoon reads the read model now and a few times more until the order is final: a
// backstop for updates published before the subscription took effect.
async function refreshSoon(id, tries = 5) {
  if (await refresh(id).catch(() => false)) return;
  if (tries > 1) setTimeout(() => refreshSoon(id, tries - 1), 1000);
}

$("order-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  $("error").textContent = "";
  const order = {
    customer: $("customer").value,
    items: [{ sku: $("sku").value, qty: Number($("qty").value) }],
    amount: Number($("amount").value),
    urgent: $("urgent").checked,
  };
  place(order, $("async").checked).catch((err) => ($("error").textContent = err.message));
});

loadStock();
loadRecent();
