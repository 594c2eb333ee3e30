// edgefn.js: a small, dependency-free browser client for edgefn's WebSocket endpoint
// (GET /ws, SPEC section 7). Copy it next to your pages.
//
// Load it as an ES module:
//
//   <script type="module">
//     import { EdgefnClient } from "/edgefn.js";
//     const client = new EdgefnClient("/ws");
//   </script>
//
// or, from code that is not a module, load it once and use the global it sets:
//
//   <script type="module" src="/edgefn.js"></script>
//   <script defer src="/app.js"></script>   <!-- deferred scripts run after it, in order -->
//   ...in app.js: const client = new globalThis.EdgefnClient("/ws");
//
// (A plain <script src="/edgefn.js"> without type="module" does not work: the file uses
// `export`.)
//
// What it does:
//   const client = new EdgefnClient("/ws", {
//     token: "<jwt>",                      // or getToken: async () => "<jwt>", asked at every connect
//     onState: (state, info) => {},        // "connecting" | "live" | "offline" | "unauthorized" | "closed"
//     onUnauthorized: async (info) => tok, // 4001: return a fresh token (or true to ask getToken
//                                          // again) to reconnect; anything else stops the client
//     onConnected: ({ client, data }) => {}, // a connect function accepted the connection: its ID
//                                          // and the function's data (at every connect)
//   });
//   const unsubscribe = client.subscribe("orders.42", (data, meta) => {}, {
//     onRecoveryFailed: (meta) => {},      // publications were missed: reload your state
//     onError: (err) => {},                // the subscription was refused (e.g. forbidden)
//   });
//   await client.publish("chat.lobby", { text: "hi" }); // the reply, or throws an EdgefnError
//   const profile = await client.rpc("profile.get", { user: "ada" }); // the function's answer
//   client.close();
//
// - The token goes in an `auth` frame, never in the URL, so it stays out of access logs. Without
//   one the connection stays anonymous, and the topic rules decide what it may do.
// - The connection comes back by itself, with exponential backoff and jitter (up to 10 s).
//   On reconnect the client authenticates again and resubscribes every topic with the epoch
//   and the offset of the last publication it delivered: what was missed arrives first, in
//   order, and nothing is delivered twice. When the server cannot fill the gap
//   (`recovered:false`), onRecoveryFailed says so.
// - Close codes: 1001 (server going away) and 1012 (missed publications) reconnect within half a
//   second (a random delay, so that the clients of a node going away do not all come back at
//   the same instant); 4001 (unauthorized, token expired) asks onUnauthorized / getToken for a
//   new token first; anything else reconnects with backoff.
// - Browsers answer the server's pings by themselves, but JavaScript never sees them: the client
//   sends a `ping` op when the line has been quiet for 25 s, and reconnects when nothing at all
//   arrived for 70 s (a dead connection a browser may not notice for minutes).
// - A publish (or an rpc) made while the client is offline waits for the connection, within its
//   timeout. When the connection drops after it was sent, it fails: the server may or may not
//   have published it (or run the function). A failed rpc throws an EdgefnError whose status is
//   the function's status.
// - When the server runs a connect function, client.clientId is the connection's ID (until the
//   next connect) and onConnected gets it with the function's data.
// - disconnect() / connect() pause and resume the connection (subscriptions are kept and resume
//   where they were); close() ends the client for good.

const DEFAULTS = {
  requestTimeout: 10_000, // ms a request waits for its reply
  pingInterval: 25_000, // ms of quiet after which the client pings
  idleTimeout: 70_000, // ms without any frame after which the connection counts as dead
  minBackoff: 500, // ms, the first reconnect delay
  maxBackoff: 10_000, // ms, the longest reconnect delay
};

/** EdgefnError is a request the server refused (`ok:false`) or that got no reply. */
export class EdgefnError extends Error {
  constructor(code, message, reply) {
    super(message ? `${code}: ${message}` : code);
    this.name = "EdgefnError";
    this.code = code; // "forbidden", "function_failed", "not_found", "timeout", "disconnected", ...
    this.status = reply?.error?.status; // the function's status, when a function failed
    this.reply = reply; // the server's reply, when there was one
  }
}

/** EdgefnClient is one WebSocket connection to an edgefn gateway and its subscriptions. */
export class EdgefnClient {
  /**
   * @param {string} url  ws(s)://, http(s):// or a path such as "/ws" (same origin)
   * @param {object} [opts]  token, getToken, onState, onUnauthorized, the DEFAULTS above, and
   *   WebSocket (a constructor to use instead of the browser's, e.g. in tests)
   */
  constructor(url, opts = {}) {
    this.url = wsURL(url);
    this.opts = { ...DEFAULTS, ...opts };
    this.state = "offline";
    this._ws = null; // the current socket
    this._subs = new Map(); // topic -> {topic, handlers: Set, epoch, offset, active, buffer}
    this._pending = new Map(); // request id -> {resolve, reject, timer}
    this._waiting = new Set(); // publishes waiting for a connection
    this._nextId = 1;
    this._attempt = 0; // failed connects since the last time the client was live
    this._retryTimer = null;
    this._watchdog = null;
    this._lastFrame = 0;
    this._lastSent = 0;
    this._stopped = false; // disconnect() or close(): no automatic reconnect
    this._closed = false; // close(): for good
    this._token = opts.token || null;
    this._tokenOnce = false; // _token came from onUnauthorized: use it before asking getToken
    this._opening = false; // between connect() and the socket's creation (getToken may be slow)
    this._ready = false; // the current socket is open and authenticated
    this.clientId = null; // the connection's ID, when a connect function accepted it
    this._onOnline = () => this.state === "offline" && !this._stopped && this.connect();
    globalThis.addEventListener?.("online", this._onOnline);
    this.connect();
  }

  /**
   * subscribe calls onPublication(data, meta) for every publication on topic, in order, once
   * each; meta is {topic, offset, epoch, recovered}. It returns the function that unsubscribes.
   * Several subscriptions to one topic share one server subscription.
   */
  subscribe(topic, onPublication, { onRecoveryFailed, onError } = {}) {
    if (this._closed) throw new Error("edgefn: the client is closed");
    const handler = { onPublication, onRecoveryFailed, onError };
    let sub = this._subs.get(topic);
    if (!sub) {
      sub = { topic, handlers: new Set(), epoch: null, offset: null, active: false, buffer: null };
      this._subs.set(topic, sub);
      if (this._ready) this._subscribeNow(sub);
    }
    sub.handlers.add(handler);
    return () => {
      sub.handlers.delete(handler);
      if (sub.handlers.size > 0 || this._subs.get(topic) !== sub) return;
      this._subs.delete(topic);
      if (sub.active) this._request({ op: "unsubscribe", topic }).catch(() => {});
    };
  }

  /** publish sends data (JSON-encodable) to topic and resolves with the server's reply. */
  publish(topic, data) {
    return this._whenLive(() => this._request({ op: "publish", topic, data }));
  }

  /**
   * rpc calls the function serving method with data (JSON-encodable) and resolves with its
   * answer, or throws an EdgefnError (code "function_failed" with the function's status, or
   * "not_found" when no function serves the method). Calls run at the same time.
   */
  rpc(method, data) {
    return this._whenLive(() => this._request({ op: "rpc", method, data })).then((reply) => reply.data);
  }

  /** connect opens the connection now, if it is not open: after disconnect(), or to skip a backoff. */
  connect() {
    if (this._closed) return;
    this._stopped = false;
    if (this._ws || this._opening) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._open();
  }

  /** disconnect closes the connection and keeps it closed until connect(); subscriptions resume then. */
  disconnect() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const ws = this._ws;
    if (ws) {
      ws.close(1000, "client disconnect");
      this._onClose(ws, 1000, "client disconnect"); // now, not when the close handshake ends
    } else if (!this._closed) {
      this._setState("offline", { paused: true });
    }
  }

  /** close ends the client for good: the connection, the subscriptions, what is waiting. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this.disconnect();
    this._subs.clear();
    globalThis.removeEventListener?.("online", this._onOnline);
    for (const w of this._waiting) w.fail(new EdgefnError("closed", "the client was closed"));
    this._setState("closed");
  }

  // --- the connection ---

  async _open() {
    this._setState("connecting", { attempt: this._attempt });
    let token = this._token;
    if (this.opts.getToken && !this._tokenOnce) {
      this._opening = true;
      try {
        token = await this.opts.getToken();
      } catch (err) {
        return this._retry({ code: 0, reason: "getToken failed: " + err });
      } finally {
        this._opening = false;
      }
      if (this._stopped || this._ws) return;
    }
    this._tokenOnce = false;
    let ws;
    try {
      ws = new (this.opts.WebSocket || WebSocket)(this.url);
    } catch (err) {
      return this._retry({ code: 0, reason: String(err) });
    }
    this._ws = ws;
    ws.onopen = () => this._onOpen(ws, token);
    ws.onmessage = (ev) => this._onFrame(ws, ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // a close event follows with the details there are
  }

  async _onOpen(ws, token) {
    this._lastFrame = this._lastSent = Date.now();
    this._watchdog = setInterval(() => this._watch(ws), 1000);
    try {
      if (token) await this._request({ op: "auth", token });
      if (ws !== this._ws) return;
      this._ready = true; // from here on, subscribe() subscribes at once
      await Promise.all([...this._subs.values()].map((sub) => this._subscribe(sub)));
    } catch (err) {
      if (ws === this._ws && err.code !== "disconnected") this._drop(ws, 4000, "setup failed: " + err.message);
      return;
    }
    if (ws !== this._ws) return;
    this._attempt = 0;
    this._setState("live");
    for (const w of this._waiting) w.go();
  }

  // _watch pings a quiet line and drops a dead one.
  _watch(ws) {
    const now = Date.now();
    if (now - this._lastFrame > this.opts.idleTimeout) {
      this._drop(ws, 4000, "no frame for " + this.opts.idleTimeout + " ms");
    } else if (now - Math.max(this._lastFrame, this._lastSent) >= this.opts.pingInterval) {
      this._request({ op: "ping" }).catch(() => {});
    }
  }

  // _drop gives up on a socket as if the network had failed, and reconnects.
  _drop(ws, code, reason) {
    if (ws !== this._ws) return;
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {}
    this._onClose(ws, 1006, reason);
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return; // an old socket, already handled
    this._ws = null;
    this._ready = false;
    this.clientId = null;
    clearInterval(this._watchdog);
    ws.onopen = ws.onmessage = ws.onclose = null;
    for (const [id, p] of this._pending) {
      this._pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new EdgefnError("disconnected", `the connection closed (${code}) before the reply`));
    }
    for (const sub of this._subs.values()) {
      sub.active = false;
      sub.buffer = null;
    }
    const info = { code, reason };
    if (this._closed) return;
    if (this._stopped) return this._setState("offline", { ...info, paused: true });
    if (code === 4001) return this._unauthorized(info);
    if (code === 1001 || code === 1012) this._attempt = 0; // reconnect soon: nothing is wrong with us
    this._retry(info);
  }

  _retry(info) {
    if (this._stopped || this._closed) return;
    const { minBackoff, maxBackoff } = this.opts;
    const ceiling = Math.min(maxBackoff, minBackoff * 2 ** this._attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter: [ceiling/2, ceiling]
    this._attempt++;
    this._setState("offline", { ...info, retryIn: delay });
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._stopped && !this._ws) this._open();
    }, delay);
  }

  // _unauthorized handles 4001: reconnect only with a fresh token.
  async _unauthorized(info) {
    this._setState("unauthorized", info);
    let next = Boolean(this.opts.getToken); // getToken is asked again at the next connect
    if (this.opts.onUnauthorized) {
      let answer;
      try {
        answer = await this.opts.onUnauthorized(info);
      } catch {
        answer = undefined;
      }
      const fresh = typeof answer === "string" && answer !== "";
      if (fresh) [this._token, this._tokenOnce] = [answer, true];
      next = fresh || answer === true;
    }
    if (this._stopped || this._closed) return;
    if (!next) {
      this._stopped = true;
      return this._setState("offline", { ...info, paused: true });
    }
    this._retry(info); // with backoff: a token that keeps failing does not spin
  }

  // --- frames ---

  _onFrame(ws, raw) {
    if (ws !== this._ws) return;
    this._lastFrame = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return this._drop(ws, 4400, "the server sent a frame that is not JSON");
    }
    if (msg.id !== undefined && msg.ok !== undefined) return this._onReply(msg);
    if (msg.connected) return this._onConnected(msg.connected);
    if (typeof msg.topic === "string" && msg.offset !== undefined) return this._onPublication(msg);
    if (msg.ok === false) console.warn("edgefn:", msg.error); // an error without an id
  }

  _onConnected(connected) {
    this.clientId = connected.client;
    try {
      this.opts.onConnected?.({ client: connected.client, data: connected.data });
    } catch (err) {
      console.error("edgefn: onConnected threw", err);
    }
  }

  _onReply(msg) {
    const p = this._pending.get(msg.id);
    if (!p) return; // it timed out
    this._pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg);
    else p.reject(new EdgefnError(msg.error?.code || "error", msg.error?.message, msg));
  }

  _onPublication(msg) {
    const sub = this._subs.get(msg.topic);
    if (!sub) return;
    if (!sub.active) {
      sub.buffer?.push(msg); // before its subscribe reply: keep the order
      return;
    }
    this._deliver(sub, msg.offset, msg.data, false);
  }

  _deliver(sub, offset, data, recovered) {
    if (sub.offset !== null && compareOffsets(offset, sub.offset) <= 0) return; // seen already
    sub.offset = offset;
    const meta = { topic: sub.topic, offset, epoch: sub.epoch, recovered };
    for (const h of [...sub.handlers]) {
      try {
        h.onPublication(data, meta);
      } catch (err) {
        console.error("edgefn: subscriber of", sub.topic, "threw", err);
      }
    }
  }

  // _subscribeNow subscribes a new topic on a connection that is ready. When that fails for a
  // reason that may pass, the client reconnects, which subscribes every topic again.
  _subscribeNow(sub) {
    const ws = this._ws;
    this._subscribe(sub).catch((err) => {
      if (err.code !== "disconnected") this._drop(ws, 4000, "subscribe failed: " + err.message);
    });
  }

  // _subscribe subscribes sub on the current connection, resuming from its position. It throws
  // when the connection should be dropped and made again.
  async _subscribe(sub) {
    const req = { op: "subscribe", topic: sub.topic };
    const resuming = sub.epoch !== null && sub.offset !== null;
    if (resuming) Object.assign(req, { epoch: sub.epoch, since: sub.offset });
    sub.buffer = [];
    let reply;
    try {
      reply = await this._request(req);
    } catch (err) {
      if (this._subs.get(sub.topic) !== sub) return;
      if (err.code === "disconnected") throw err;
      if (err.code === "unavailable" || err.code === "timeout") throw err; // reconnect and try again
      this._subs.delete(sub.topic); // refused: forbidden, bad topic, too many
      for (const h of sub.handlers) {
        if (h.onError) h.onError(err);
        else console.warn("edgefn: subscribe", sub.topic, "refused:", err.message);
      }
      return;
    }
    if (this._subs.get(sub.topic) !== sub) {
      // unsubscribed while the request was in flight
      this._request({ op: "unsubscribe", topic: sub.topic }).catch(() => {});
      return;
    }
    const missed = resuming && (reply.recovered !== true || reply.epoch !== sub.epoch);
    if (resuming && !missed) {
      for (const p of reply.publications || []) this._deliver(sub, p.offset, p.data, true);
    } else if (!resuming && reply.recovered === true && reply.publications?.length) {
      // A first subscribe that comes with history: the server sends what the subscriber is
      // owed from before it asked, e.g. the reply of an async request (requests.{id}).
      sub.epoch = reply.epoch;
      for (const p of reply.publications) this._deliver(sub, p.offset, p.data, true);
    } else {
      [sub.epoch, sub.offset] = [reply.epoch, reply.offset]; // from here on
    }
    sub.active = true;
    const buffered = sub.buffer || [];
    sub.buffer = null;
    if (missed) {
      const meta = { topic: sub.topic, epoch: reply.epoch, offset: reply.offset };
      for (const h of [...sub.handlers]) h.onRecoveryFailed?.(meta);
    }
    for (const msg of buffered) this._deliver(sub, msg.offset, msg.data, false);
  }

  // _request sends a frame with a fresh id and resolves with its reply.
  _request(frame) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) {
      return Promise.reject(new EdgefnError("disconnected", "not connected"));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new EdgefnError("timeout", `no reply to ${frame.op} in ${this.opts.requestTimeout} ms`));
      }, this.opts.requestTimeout);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ id, ...frame }));
      this._lastSent = Date.now();
    });
  }

  // _whenLive runs send now when live, else once the client is live, within the request timeout.
  _whenLive(send) {
    if (this._closed) return Promise.reject(new EdgefnError("closed", "the client was closed"));
    if (this.state === "live") return send();
    return new Promise((resolve, reject) => {
      const w = {
        go: () => {
          this._waiting.delete(w);
          clearTimeout(w.timer);
          send().then(resolve, reject);
        },
        fail: (err) => {
          this._waiting.delete(w);
          clearTimeout(w.timer);
          reject(err);
        },
      };
      w.timer = setTimeout(
        () => w.fail(new EdgefnError("timeout", `not connected within ${this.opts.requestTimeout} ms`)),
        this.opts.requestTimeout,
      );
      this._waiting.add(w);
    });
  }

  _setState(state, info = {}) {
    if (this.state === "closed") return;
    this.state = state;
    try {
      this.opts.onState?.(state, info);
    } catch (err) {
      console.error("edgefn: onState threw", err);
    }
  }
}

// compareOffsets orders two offsets. They are opaque strings that increase per topic; edgefn's
// are decimal numbers, compared here without losing precision past 2^53.
function compareOffsets(a, b) {
  a = String(a);
  b = String(b);
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

// wsURL resolves a path or an http(s) URL against the page to a ws(s) URL.
function wsURL(url) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  return u.href;
}

globalThis.EdgefnClient = EdgefnClient;
globalThis.EdgefnError = EdgefnError;
export default EdgefnClient;
