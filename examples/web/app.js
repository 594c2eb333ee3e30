// The demo page: news.demo (fed by POST /notify/demo), news.clock (fed by the clock function's
// schedule trigger, every 10 s) and a chat on chat.lobby, over one EdgefnClient, with who is in
// the chat room (#who, an <li data-client> per client). Every publication becomes <li id="news-EPOCH-OFFSET"> (or chat-...) with
// data-epoch, data-offset and data-recovered, #state[data-state] says where the connection is,
// and #notice says when publications were missed: the end-to-end test (e2e/browser_test.go)
// waits on those.
import { EdgefnClient } from "./edgefn.js";

const $ = (id) => document.getElementById(id);

const client = new EdgefnClient("/ws", {
  // No token: the demo's topic rules (manifests/web.yaml) let anyone in. With JWTs, pass
  // getToken: () => fetch("/my-token").then((r) => r.text()), and onUnauthorized.
  onState(state, info) {
    const why = info.code ? ` after ${info.code}${info.reason ? " " + info.reason : ""}` : "";
    const retry = info.retryIn ? `, retry in ${(info.retryIn / 1000).toFixed(1)} s` : "";
    $("state").textContent = state + why + retry;
    $("state").dataset.state = state;
    if (info.code) $("state").dataset.closeCode = info.code; // the last close code, kept
    if (state === "live") loadWho(); // joins and leaves are not resumed: read the room again
  },
  // Only when the gateway runs a connect function (manifests/web.yaml has none).
  onConnected({ client }) {
    $("client").textContent = `as ${client}`;
  },
});
window.edgefnClient = client; // for the console, and for the end-to-end test

function show(list, prefix, data, meta) {
  const li = document.createElement("li");
  li.id = `${prefix}-${meta.epoch}-${meta.offset}`; // a topic's offsets start again in a new epoch
  li.dataset.epoch = meta.epoch;
  li.dataset.offset = meta.offset;
  li.dataset.recovered = String(meta.recovered);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = typeof data?.text === "string" ? data.text : JSON.stringify(data);
  const at = document.createElement("span");
  at.className = "meta";
  at.textContent = `#${meta.offset}` + (data?.at ? ` · ${new Date(data.at).toLocaleTimeString()}` : "");
  li.append(text, at);
  list.append(li);
}

function missed() {
  // A real app reloads its state here (e.g. GET the list again); the demo just says so.
  $("notice").textContent = "Some publications were missed while offline; the lists may have gaps.";
}

client.subscribe("news.demo", (data, meta) => show($("news"), "news", data, meta), { onRecoveryFailed: missed });
client.subscribe("news.clock", (data, meta) => {
  show($("clock"), "clock", data, meta);
  while ($("clock").children.length > 5) $("clock").firstElementChild.remove(); // the latest ticks only
}, { onRecoveryFailed: missed });
client.subscribe("chat.lobby", (data, meta) => show($("chat"), "chat", data, meta), {
  onRecoveryFailed: missed,
  onJoin: (member) => whoEvent(addWho, member),
  onLeave: (member) => whoEvent(removeWho, member),
});

// Who is in the chat room: the presence of chat.lobby, then its joins and leaves.
function addWho(member) {
  if ($("who").querySelector(`li[data-client="${member.client}"]`)) return;
  const li = document.createElement("li");
  li.dataset.client = member.client;
  const you = member.client === client.clientId ? " (you)" : "";
  li.textContent = (member.info?.name || member.sub || "anonymous") + you;
  const id = document.createElement("span");
  id.className = "meta";
  id.textContent = member.client.slice(0, 8);
  li.append(id);
  $("who").append(li);
}

function removeWho(member) {
  $("who").querySelector(`li[data-client="${member.client}"]`)?.remove();
}

// While the room is read, joins and leaves are kept, and applied to what the read returns:
// each may have happened before or after the read, and applying them again changes nothing.
let whoLoads = 0;
let whoLog = null;
function whoEvent(apply, member) {
  whoLog?.push([apply, member]);
  apply(member);
}

async function loadWho() {
  const n = ++whoLoads;
  whoLog = [];
  try {
    const members = await client.presence("chat.lobby");
    if (n !== whoLoads) return;
    $("who").replaceChildren();
    members.forEach(addWho);
    for (const [apply, member] of whoLog) apply(member);
    $("who").dataset.loaded = "true";
  } catch (err) {
    console.warn("presence of chat.lobby:", err.message);
  } finally {
    if (n === whoLoads) whoLog = null;
  }
}

$("notify-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("notify-text");
  $("notify-result").textContent = "";
  try {
    const res = await fetch("/notify/demo", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: input.value }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error?.message || `HTTP ${res.status}`);
    }
    input.value = "";
  } catch (err) {
    $("notify-result").textContent = err.message;
  }
});

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("chat-text");
  $("chat-error").textContent = "";
  try {
    await client.publish("chat.lobby", { text: input.value });
    input.value = "";
  } catch (err) {
    $("chat-error").textContent = err.message;
  }
});

// As you type, the rpc chat.check (notify) says how long the message is, or why the room
// would refuse it. Calls run at the same time: only the latest one's answer is shown.
let checks = 0;
$("chat-text").addEventListener("input", async () => {
  const n = ++checks;
  let text;
  try {
    const { chars, max } = await client.rpc("chat.check", { text: $("chat-text").value });
    text = `${chars}/${max}`;
  } catch (err) {
    text = err.code === "function_failed" ? err.reply?.error?.message : err.message;
  }
  if (n === checks) $("chat-count").textContent = text;
});

$("reconnect").addEventListener("click", () => {
  client.disconnect();
  client.connect();
});
