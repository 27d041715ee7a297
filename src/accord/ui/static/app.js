// Accord dashboard: a little plain JavaScript for what forms alone cannot do. No framework, no CDN.
"use strict";
const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
const base = meta("ui-base");

function signInAgain() { location.href = `${base}/login?next=${encodeURIComponent(location.pathname + location.search)}`; }

async function post(url, body) {
  const r = await fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: { "content-type": "application/json", "x-csrf-token": meta("csrf-token") } });
  if (r.status === 401) { signInAgain(); throw new Error("signed out"); }
  return r;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// The chair's synthesis is a little markdown (## headings, - lists, nested by two spaces): built as DOM nodes
// from text, so nothing a model writes is ever parsed as HTML.
function renderMd(target, text) {
  target.replaceChildren();
  const lists = [];
  for (const raw of text.split("\n")) {
    const m = raw.match(/^(\s*)[-*] (.*)$/);
    if (m) {
      const depth = Math.floor(m[1].length / 2);
      while (lists.length > depth + 1) lists.pop();
      if (lists.length < depth + 1) {
        const ul = el("ul");
        (lists.length ? lists[lists.length - 1].lastChild || lists[lists.length - 1] : target).append(ul);
        lists.push(ul);
      }
      lists[lists.length - 1].append(el("li", "", m[2]));
      continue;
    }
    lists.length = 0;
    const h = raw.match(/^#{1,4} (.*)$/);
    if (h) target.append(el("h3", "", h[1]));
    else if (raw.trim()) target.append(el("p", "", raw));
  }
}
document.querySelectorAll(".md").forEach((e) => renderMd(e, e.textContent));

// Confirm before destructive forms; copy buttons.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset && ev.target.dataset.confirm;
  if (msg && !confirm(msg)) ev.preventDefault();
});
document.addEventListener("click", async (ev) => {
  const copy = ev.target.closest("[data-copy]");
  if (copy) {
    const input = document.getElementById(copy.dataset.copy);
    input.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    if (!done && navigator.clipboard) {
      try { await navigator.clipboard.writeText(input.value); done = true; } catch (e) { done = false; }
    }
    copy.textContent = done ? "Copied" : "Press Ctrl+C";
  }
  const test = ev.target.closest("[data-test-model]");
  if (test) {
    const out = test.parentElement.querySelector(".test-result");
    test.disabled = true; out.textContent = "testing…"; out.className = "test-result small";
    try {
      const d = await (await post(`${base}/api/models/test`, { deployment: test.dataset.testModel })).json();
      out.textContent = d.healthy ? `ok in ${d.latency_ms} ms` : `failed: ${d.error || "unknown error"}`;
      out.classList.add(d.healthy ? "ok" : "error");
    } catch (e) { out.textContent = String(e); out.classList.add("error"); }
    test.disabled = false;
  }
});

// Pages left open in a tab refresh their figures in place (and go to sign-in when the session ends).
const main = document.getElementById("main");
if (main && main.dataset.refresh) {
  setInterval(async () => {
    if (document.hidden) return;
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (r.redirected || r.status === 401) return signInAgain();
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById("main");
    if (fresh) main.innerHTML = fresh.innerHTML;
  }, Number(main.dataset.refresh) * 1000);
}

// Consensus playground: stream the run (NDJSON) and fill one card per panel seat as each answers.
const form = document.getElementById("playground");
if (form) form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const panel = [...form.querySelectorAll("input[name=seat]:checked")].map((c) => ({
    model: c.value, stance: form.querySelector(`[data-stance-for="${CSS.escape(c.value)}"]`).value }));
  const status = document.getElementById("run-status"), answers = document.getElementById("answers");
  const synth = document.getElementById("synthesis"), button = document.getElementById("ask");
  answers.replaceChildren(); synth.hidden = true; button.disabled = true;
  const cards = {};
  const card = (label) => cards[label] || (cards[label] = (() => {
    const c = el("article", "card answer"), h = el("header");
    h.append(el("strong", "", label), el("span", "badge", "waiting"));
    c.append(h, el("div", "text"));
    c.dataset.label = label; answers.append(c); return c;
  })());
  const set = (label, state, text) => {
    const c = card(label), b = c.querySelector(".badge");
    b.textContent = state; b.className = `badge ${state.split(" ")[0]}`;
    if (text !== undefined) c.querySelector(".text").textContent = text;
  };
  status.textContent = "Asking the panel…";
  try {
    const r = await post(form.dataset.endpoint, { question: form.question.value, mode: form.mode.value, panel });
    if (!r.ok) { status.textContent = (await r.json()).error || `HTTP ${r.status}`; return; }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) { handle(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
    }
  } catch (e) { status.textContent = String(e); } finally { button.disabled = false; }

  function handle(m) {
    if (m.type === "start") m.labels.forEach((l) => set(l, "waiting"));
    else if (m.type === "event" && m.kind === "start") set(m.model, "thinking");
    else if (m.type === "event" && m.kind === "chair") status.textContent = `${m.model} is writing the synthesis…`;
    else if (m.type === "delta" && cards[m.model]) {
      const c = cards[m.model], t = c.querySelector(".text"), b = c.querySelector(".badge");
      if (b.textContent === "thinking") { t.textContent = ""; b.textContent = "answering"; b.className = "badge answering"; }
      t.textContent += m.text;
    }
    else if (m.type === "event" && m.kind === "done" && cards[m.model]) set(m.model, `done ${m.detail}`);
    else if (m.type === "event" && m.kind === "failed" && cards[m.model]) set(m.model, "failed", m.detail);
    else if (m.type === "error") status.textContent = m.error;
    else if (m.type === "result") {
      m.answers.forEach((a) => set(a.label, a.status === "ok" ? `done ${(a.latency || 0).toFixed(1)} s` : a.status,
                                   a.status === "ok" ? a.content : a.error));
      synth.hidden = false;
      document.getElementById("agreement").textContent =
        (m.agreement === null ? m.status : `agreement ${Math.round(m.agreement * 100)}%`) +
        (m.chair_agreement == null ? "" : ` · chair ${Math.round(m.chair_agreement * 100)}%`);
      renderMd(document.getElementById("synthesis-text"),
               m.synthesis || (m.vote ? `Vote: ${m.recommendation}` : m.notes.join("\n")));
      const link = document.getElementById("thread-link");
      link.replaceChildren();
      if (m.thread_id) {
        const a = el("a", "", "Open the stored thread"); a.href = `${base}/threads/${m.thread_id}`;
        link.append(a, ` · ${m.wall_time.toFixed(1)} s · $${m.cost.toFixed(4)}`);
      }
      const why = (m.reasons || []).map((x) => x.text).join(" · ");
      const chaired = m.chair_choice ? ` · chaired by ${m.chair_choice.model}: ${m.chair_choice.reason}` : "";
      status.textContent = `Finished: ${m.status}${why ? ` (${why})` : ""}${chaired}`;
    }
  }
});
