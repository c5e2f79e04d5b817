// memsim's lab dashboard (harness/src/dashboard). Every journal value reaches the page through
// textContent or an attribute set by setAttribute: never as markup (no innerHTML anywhere), so
// a host or header holding "<script>" is shown as the text it is. The page's CSP allows no
// inline script either.
"use strict";

(function () {
  const TOKEN = document.querySelector('meta[name="memsim-token"]').getAttribute("content");
  const MAX_ROWS = 4000;
  const $ = (id) => document.getElementById(id);
  const timeline = $("timeline");

  // ---- small DOM helpers: text only ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }
  const text = (v) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));
  const clock = (iso) => (typeof iso === "string" && iso.length >= 19 ? iso.slice(11, 23).replace(/Z$/, "") : "");

  async function api(method, path, body) {
    const init = { method, headers: { "x-memsim-dashboard-token": TOKEN }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      init.body = body;
      init.headers["content-type"] = "text/plain; charset=utf-8";
    }
    const res = await fetch(path, init);
    let value = null;
    try { value = await res.json(); } catch (_) { value = null; }
    if (!res.ok) {
      const msg = value && value.error ? value.error : `${res.status} ${res.statusText}`;
      throw new Error(msg);
    }
    return value;
  }

  // ---- the briefing ----
  let labControls = false;
  async function loadBriefing() {
    const b = await api("GET", "/api/lab");
    $("scenario-name").textContent = text(b.scenario);
    $("scenario-summary").textContent = text(b.summary);
    $("hint").textContent = b.hint ? text(b.hint) : "This scenario has no hint.";
    document.title = `memsim lab: ${text(b.scenario)}`;
    labControls = !!b.lab_controls;
    if (!labControls) {
      $("check-button").disabled = true;
      $("check-verdict").textContent = "Checking a fix needs `memsim lab`.";
      for (const c of $("add-fault").elements) c.disabled = true;
      $("faults-status").textContent = "Faults can be changed in a world started with `memsim lab`.";
    } else {
      loadFaults();
    }
  }

  // ---- faults ----
  function faultList(v) {
    if (Array.isArray(v)) return v;
    if (v && Array.isArray(v.faults)) return v.faults;
    return [];
  }
  function describeFault(f) {
    if (typeof f !== "object" || f === null) return text(f);
    if (typeof f.toml === "string") return f.toml.trim();
    const parts = [];
    for (const [k, v] of Object.entries(f)) {
      if (k === "id") continue;
      parts.push(`${k} = ${JSON.stringify(v)}`);
    }
    return parts.join(", ");
  }
  async function loadFaults() {
    if (!labControls) return;
    try {
      const list = faultList(await api("GET", "/api/faults"));
      const ul = $("faults");
      ul.replaceChildren();
      list.forEach((f, i) => {
        const id = f && f.id !== undefined ? String(f.id) : String(i);
        const kind = f && (f.kind || (f.fault && f.fault.kind)) ? text(f.kind || f.fault.kind) : `fault ${id}`;
        const item = el("li", { "data-fault-id": id, "data-kind": kind }, el("code", { class: "fault-toml" }, describeFault(f)), " ");
        if (f && f.live === false) {
          item.append(el("span", { class: "muted" }, "(fixed when the world started)"));
        } else {
          const remove = el("button", { type: "button", "aria-label": `Remove fault ${kind} (${id})`, "data-fault-id": id }, "Remove");
          remove.addEventListener("click", () => removeFault(id));
          item.append(remove);
        }
        ul.append(item);
      });
      $("faults-status").textContent = list.length === 0 ? "No faults: the world is healthy." : `${list.length} fault${list.length === 1 ? "" : "s"}.`;
    } catch (e) {
      $("faults-error").textContent = `Could not list the faults: ${e.message}`;
    }
  }
  async function removeFault(id) {
    $("faults-error").textContent = "";
    try {
      await api("DELETE", `/api/faults/${encodeURIComponent(id)}`);
      $("faults-status").textContent = `Removed fault ${id}.`;
    } catch (e) {
      $("faults-error").textContent = `Could not remove fault ${id}: ${e.message}`;
    }
    loadFaults();
  }
  $("add-fault").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("faults-error").textContent = "";
    const toml = $("fault-toml").value;
    try {
      await api("POST", "/api/faults", toml);
      $("fault-toml").value = "";
      $("faults-status").textContent = "Fault added.";
    } catch (e) {
      $("faults-error").textContent = e.message;
    }
    loadFaults();
  });

  // ---- check my fix ----
  $("check-button").addEventListener("click", async () => {
    const button = $("check-button");
    const box = $("check-result");
    button.disabled = true;
    box.setAttribute("data-verdict", "running");
    $("check-verdict").textContent = "Checking…";
    $("check-detail").textContent = "";
    try {
      const r = await api("POST", "/api/check");
      const fixed = r && (r.verdict === "fixed" || r.fixed === true);
      box.setAttribute("data-verdict", fixed ? "fixed" : "not-yet");
      $("check-verdict").textContent = fixed ? "Fixed: the scenario's check now holds." : "Not yet: the check still fails.";
      const detail = r && (r.near_miss || r.detail || r.message);
      $("check-detail").textContent = detail ? text(detail) : JSON.stringify(r, null, 2);
    } catch (e) {
      box.setAttribute("data-verdict", "error");
      $("check-verdict").textContent = `The check could not run: ${e.message}`;
    } finally {
      button.disabled = false;
      loadFaults();
    }
  });

  // ---- the timeline ----
  const conns = new Map(); // proxy connection id -> {li, hops, summary parts, state}
  let shown = 0;
  let pendingNew = 0;

  function brief(e) {
    const d = e.detail || {};
    const bits = [];
    if (d.method || d.path || d.target) bits.push(`${text(d.method)} ${text(d.path || d.target)}`.trim());
    if (d.status !== undefined) bits.push(`status ${text(d.status)}`);
    if (d.decision) bits.push(`decision ${text(d.decision)}`);
    if (d.cause) bits.push(`cause ${text(d.cause)}`);
    if (d.bytes_up !== undefined || d.bytes_down !== undefined) bits.push(`${text(d.bytes_up)} B up, ${text(d.bytes_down)} B down`);
    if (d.wall_ms !== undefined && typeof d.wall_ms === "number") bits.push(`${d.wall_ms.toFixed(1)} ms`);
    else if (typeof d.ms === "number") bits.push(`${d.ms.toFixed(1)} ms`);
    if (d.version) bits.push(text(d.version));
    if (d.alpn) bits.push(`ALPN ${text(d.alpn)}`);
    if (d.error) bits.push(text(d.error));
    if (d.reason) bits.push(text(d.reason));
    return bits.join(" · ");
  }

  function detailList(e) {
    const dl = el("dl", { class: "detail" });
    const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, text(v)));
    add("seq", e.seq);
    add("simulated time", e.sim_time);
    add("wall ms", typeof e.wall_ms === "number" ? e.wall_ms.toFixed(3) : e.wall_ms);
    if (e.host !== undefined) add("host", e.host);
    if (e.fault) add("fault", e.fault);
    for (const [k, v] of Object.entries(e.detail || {})) add(k, v);
    return dl;
  }

  function faultBadge(name) {
    return el("span", { class: "fault" }, `fault ${text(name)}`);
  }

  function summaryLine(e) {
    const s = el("summary", {});
    s.append(
      el("time", { datetime: text(e.sim_time) }, clock(e.sim_time)), " ",
      el("span", { class: `comp comp-${text(e.component)}` }, text(e.component)), " ",
      el("span", { class: "what" }, text(e.what)), " ",
      el("span", { class: "host" }, text(e.host)), " ",
    );
    if (e.fault) s.append(faultBadge(e.fault), " ");
    s.append(el("span", { class: "brief" }, brief(e)));
    return s;
  }

  function place(li) {
    timeline.append(li);
    shown++;
    while (shown > MAX_ROWS && timeline.firstElementChild) {
      const gone = timeline.firstElementChild;
      if (gone.dataset.conn) conns.delete(gone.dataset.conn);
      gone.remove();
      shown--;
    }
    applyFilter(li);
  }

  function standalone(e) {
    const li = el("li", { class: "row", "data-component": text(e.component), "data-host": text(e.host), "data-fault": e.fault ? text(e.fault) : "", "data-seq": e.seq });
    const details = el("details", {}, summaryLine(e), detailList(e));
    li.append(details);
    place(li);
  }

  function hop(e, atFront) {
    const li = el("li", { class: "hop", "data-seq": e.seq });
    const details = el("details", {}, summaryLine(e), detailList(e));
    if (atFront) details.querySelector("summary").prepend(el("span", { class: "muted" }, "at the front: "));
    li.append(details);
    return li;
  }

  function connRow(id, e) {
    let c = conns.get(id);
    if (c) return c;
    const title = el("span", { class: "what" }, `proxy connection #${id}`);
    const host = el("span", { class: "host" });
    const state = el("span", { class: "brief" }, "open");
    const faults = el("span", { class: "faults-touched" });
    const summary = el("summary", {},
      el("time", { datetime: text(e.sim_time) }, clock(e.sim_time)), " ",
      el("span", { class: "comp comp-proxy" }, "proxy"), " ", title, " ", host, " ", faults, " ", state);
    const hops = el("ol", { class: "hops", "aria-label": `Hops of proxy connection ${id}` });
    const li = el("li", { class: "row conn", "data-component": "proxy", "data-host": "", "data-fault": "", "data-conn": id });
    li.append(el("details", {}, summary, hops));
    c = { li, hops, host, state, faults, faultNames: new Set(), pending: [], closed: false, tunnelHost: null };
    conns.set(id, c);
    place(li);
    return c;
  }

  function touch(c, e) {
    if (e.host && !c.li.dataset.host) {
      c.li.dataset.host = text(e.host);
      c.host.textContent = text(e.host);
    }
    const d = e.detail || {};
    const names = [];
    if (e.fault) names.push(e.fault);
    if (Array.isArray(d.faults)) names.push(...d.faults);
    for (const n of names) {
      if (!c.faultNames.has(n)) {
        c.faultNames.add(n);
        c.faults.append(faultBadge(n), " ");
      }
    }
    if (c.faultNames.size) c.li.dataset.fault = [...c.faultNames].join(" ");
    if (e.what === "request" && d.decision) c.state.textContent = `${text(d.method)} ${text(d.target)} · ${text(d.decision)}`;
    if (e.what === "close") {
      c.closed = true;
      c.state.textContent = `closed (${text(d.cause)}) · ${text(d.bytes_up)} B up, ${text(d.bytes_down)} B down · ${typeof d.wall_ms === "number" ? d.wall_ms.toFixed(1) : text(d.wall_ms)} ms`;
    }
    applyFilter(c.li);
  }

  function onProxy(e) {
    const id = String(e.detail.conn);
    const c = connRow(id, e);
    c.hops.append(hop(e, false));
    const d = e.detail;
    if (e.what === "request" && d.decision === "allow") {
      const m = text(d.method).toUpperCase();
      if (m === "CONNECT" || m === "TLS") c.tunnelHost = e.host;
      else c.pending.push({ host: e.host, method: m, path: pathOf(text(d.target)) });
    }
    touch(c, e);
  }

  function pathOf(target) {
    let p = target;
    const i = p.indexOf("://");
    if (i >= 0) {
      const rest = p.slice(i + 3);
      const j = rest.indexOf("/");
      p = j >= 0 ? rest.slice(j) : "/";
    }
    const q = p.indexOf("?");
    return q >= 0 ? p.slice(0, q) : p;
  }

  // A front's event joins the proxy connection it came through: the request the proxy let
  // through (same host, method, path), else the only open tunnel to that host.
  function joinFront(e) {
    const d = e.detail || {};
    if (e.component === "http" && d.method) {
      for (const c of conns.values()) {
        const i = c.pending.findIndex((p) => p.host === e.host && p.method === text(d.method).toUpperCase() && p.path === text(d.path));
        if (i >= 0) {
          c.pending.splice(i, 1);
          return c;
        }
      }
    }
    const open = [...conns.values()].filter((c) => !c.closed && c.tunnelHost && c.tunnelHost === e.host);
    return open.length === 1 ? open[0] : null;
  }

  let faultsReload = null;
  function onEvent(e) {
    // The world's faults changed (a trainer, `memsim fault`, another page): list them anew,
    // once for a burst of changes.
    if (e.component === "control" && !faultsReload) {
      faultsReload = setTimeout(() => { faultsReload = null; loadFaults(); }, 100);
    }
    if (e.component === "proxy" && e.detail && e.detail.conn !== undefined) {
      onProxy(e);
    } else {
      standalone(e);
      if (e.component === "http" || e.component === "tls") {
        const c = joinFront(e);
        if (c) {
          c.hops.append(hop(e, true));
          touch(c, { host: null, fault: e.fault, detail: {} });
        }
      }
    }
    pendingNew++;
  }

  // ---- filters ----
  function filterState() {
    const comps = new Set([...document.querySelectorAll('#filters input[name="component"]:checked')].map((i) => i.value));
    return { comps, host: $("host-filter").value.trim().toLowerCase(), faultsOnly: $("faults-only").checked };
  }
  let filter = null;
  function applyFilter(li) {
    const f = filter || (filter = filterState());
    const ok = f.comps.has(li.dataset.component)
      && (!f.host || (li.dataset.host || "").toLowerCase().includes(f.host))
      && (!f.faultsOnly || !!li.dataset.fault);
    li.hidden = !ok;
  }
  $("filters").addEventListener("input", () => {
    filter = filterState();
    for (const li of timeline.children) applyFilter(li);
  });
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());

  // ---- the live feed ----
  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("hello", (m) => {
      const h = JSON.parse(m.data);
      $("connection").textContent = h.skipped > 0
        ? `Connected. ${h.skipped} older events are not shown (the HAR download has them all).`
        : "Connected.";
    });
    source.addEventListener("live", () => {
      $("connection").textContent = "Connected: new events appear as they happen.";
      document.body.dataset.live = "true";
      loadFaults();
    });
    source.addEventListener("lagged", (m) => {
      $("timeline-status").textContent = `${m.data} events were skipped: the page fell behind.`;
    });
    source.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (_) { /* a line the page cannot read is skipped */ }
    };
    source.onerror = () => {
      $("connection").textContent = "Disconnected from the world; retrying…";
      document.body.dataset.live = "false";
    };
  }
  // The status line counts new events once a second (a live region must not chatter).
  setInterval(() => {
    if (pendingNew > 0) {
      $("timeline-status").textContent = `${pendingNew} new event${pendingNew === 1 ? "" : "s"}.`;
      pendingNew = 0;
    }
  }, 1000);

  // ---- print: every row open on paper, as it was on screen after ----
  let closedBefore = [];
  window.addEventListener("beforeprint", () => {
    closedBefore = [...document.querySelectorAll("details:not([open])")];
    for (const d of closedBefore) d.open = true;
  });
  window.addEventListener("afterprint", () => {
    for (const d of closedBefore) d.open = false;
    closedBefore = [];
  });

  loadBriefing().catch((e) => { $("connection").textContent = `Could not load the lab: ${e.message}`; });
  connect();
})();
