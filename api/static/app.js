// The question page. Everything from the index or the model is inserted with
// textContent / createElement, never as HTML, so article text cannot run code.
"use strict";

const EXAMPLES = [
  "How long will the state of emergency in Tacna last?",
  "How many military personnel were deployed in Tumbes?",
  "Who is the governor of Arica and Parinacota?",
  "When was the border between Ecuador and Peru closed?",
];
const HISTORY_MESSAGES = 6; // the last three exchanges travel with a follow-up
const CONTEXT_CHARS = 600; // article text shown on each side of a quoted span
const CLOSEST_PASSAGES = 3; // shown with a refusal
const UNSURE_BELOW = 0.5; // rag/public.py: under it an answer is shown as unsure
const MAX_DOC_IDS = 500; // the API's limit for filters.doc_ids
const MAX_STORED_TURNS = 50; // older turns are not kept across a reload
const CONVERSATION_KEY = "news-rag.conversation.v1"; // localStorage
const FILTERS_KEY = "news-rag.filters.v1"; // localStorage: the documents panel's filters
const TOKEN_KEY = "news-rag.admin-token"; // sessionStorage: gone when the tab closes

const $ = (id) => document.getElementById(id);
const state = {
  messages: [], // what travels to /api/chat as history
  turns: [], // {question, result?, passages?, error?}: what the page shows and stores
  busy: false,
  docs: new Map(),
  texts: new Map(),
  selected: new Set(), // documents ticked for questions
  // The outlet restored from storage, until the outlet menu (filled once the documents
  // are loaded) can show it; null once it has.
  restoredOutlet: null,
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function button(label, className, onClick) {
  const node = el("button", className, label);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

function formatDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, {
    year: "numeric", month: "short", day: "numeric", timeZone: "UTC",
  });
}

function metaLine(item) {
  const parts = [item.outlet, item.published && formatDate(item.published)].filter(Boolean);
  const line = parts.length ? parts.join(" · ") : "outlet and date not given";
  // A PDF's citations and passages name the page their span starts on.
  return item.page != null ? `${line} · p. ${item.page}` : line;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text || "";
  status.classList.toggle("error", Boolean(isError));
}

function scrollBehavior() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

async function errorMessage(response) {
  const body = await response.json().catch(() => ({}));
  return body.error ? body.error.message : `HTTP ${response.status}`;
}

// -- storage ---------------------------------------------------------------------------

function storage(kind) {
  try {
    return kind === "session" ? window.sessionStorage : window.localStorage;
  } catch {
    return null; // storage disabled: the page still works, it just forgets
  }
}

function saveConversation() {
  const store = storage("local");
  if (!store) return;
  try {
    if (state.turns.length) {
      const turns = state.turns.slice(-MAX_STORED_TURNS);
      store.setItem(CONVERSATION_KEY, JSON.stringify({ messages: state.messages, turns }));
    } else {
      store.removeItem(CONVERSATION_KEY);
    }
  } catch {
    // Quota exceeded: keep the conversation on screen only.
  }
}

function loadConversation() {
  const store = storage("local");
  const raw = store && store.getItem(CONVERSATION_KEY);
  if (!raw) return;
  try {
    const saved = JSON.parse(raw);
    if (!Array.isArray(saved.turns) || !Array.isArray(saved.messages)) return;
    state.messages = saved.messages;
    state.turns = saved.turns;
  } catch {
    store.removeItem(CONVERSATION_KEY);
    return;
  }
  for (const turn of state.turns) renderTurn(turn);
}

// The filters (not the ticked documents, whose ids may be gone) survive a reload.
function saveFilters() {
  const store = storage("local");
  if (!store) return;
  const saved = {
    search: $("doc-search").value,
    outlet: state.restoredOutlet ?? $("doc-outlet").value,
    from: $("date-from").value,
    to: $("date-to").value,
  };
  try {
    if (Object.values(saved).some(Boolean)) store.setItem(FILTERS_KEY, JSON.stringify(saved));
    else store.removeItem(FILTERS_KEY);
  } catch {
    // Quota exceeded: the filters still apply, they are just not kept.
  }
}

function loadFilters() {
  const store = storage("local");
  const raw = store && store.getItem(FILTERS_KEY);
  if (!raw) return;
  let saved;
  try {
    saved = JSON.parse(raw);
  } catch {
    store.removeItem(FILTERS_KEY);
    return;
  }
  const text = (value) => (typeof value === "string" ? value : "");
  $("doc-search").value = text(saved.search);
  $("date-from").value = text(saved.from);
  $("date-to").value = text(saved.to);
  state.restoredOutlet = text(saved.outlet);
}

function adminToken() {
  const store = storage("session");
  return (store && store.getItem(TOKEN_KEY)) || $("admin-token").value.trim();
}

function rememberToken(token) {
  const store = storage("session");
  if (!store) return;
  if (token) store.setItem(TOKEN_KEY, token);
  else store.removeItem(TOKEN_KEY);
}

function forgetToken() {
  rememberToken("");
  $("admin-token").value = "";
}

function askForToken(why) {
  const panel = $("add-panel");
  panel.open = true;
  addNote(why, "error");
  const input = $("admin-token");
  input.scrollIntoView({ block: "center", behavior: scrollBehavior() });
  input.focus({ preventScroll: true });
}

function addNote(text, kind) {
  const item = el("li", kind || null, text);
  $("add-results").replaceChildren(item);
  return item;
}

// -- documents, filters and examples ---------------------------------------------------

function filterValues() {
  return {
    search: $("doc-search").value.trim().toLowerCase(),
    outlet: state.restoredOutlet ?? $("doc-outlet").value,
    from: $("date-from").value,
    to: $("date-to").value,
  };
}

function inDates(doc, f) {
  if (!f.from && !f.to) return true;
  if (!doc.published) return false; // a date range leaves out undated articles
  return (!f.from || doc.published >= f.from) && (!f.to || doc.published <= f.to);
}

// The documents a question may use, or null for "all of them".
function scopeDocs(f) {
  const all = [...state.docs.values()];
  let docs = all;
  if (state.selected.size) docs = docs.filter((d) => state.selected.has(d.doc_id));
  if (f.outlet) docs = docs.filter((d) => d.outlet === f.outlet);
  docs = docs.filter((d) => inDates(d, f));
  const limited = state.selected.size || f.outlet || f.from || f.to;
  return limited ? docs : null;
}

// The `filters` object for /api/chat; throws when nothing could match.
function chatFilters() {
  const f = filterValues();
  if (f.from && f.to && f.from > f.to) throw new Error("the “from” date is after the “to” date");
  const docs = scopeDocs(f);
  if (docs && !docs.length) throw new Error("no document matches the filters: clear or change them");
  const filters = {};
  // The outlet goes by name (the API matches it against every document of the outlet,
  // any number of them); only ticked documents go as ids.
  if (state.selected.size) filters.doc_ids = docs.map((d) => d.doc_id).slice(0, MAX_DOC_IDS);
  if (f.outlet) filters.outlets = [f.outlet];
  if (f.from) filters.published_from = f.from;
  if (f.to) filters.published_to = f.to;
  return Object.keys(filters).length ? filters : undefined;
}

function describeScope() {
  const f = filterValues();
  const docs = scopeDocs(f);
  const total = state.docs.size;
  const parts = [];
  if (state.selected.size) parts.push(`${state.selected.size} selected`);
  if (f.outlet) parts.push(`outlet ${f.outlet}`);
  if (f.from) parts.push(`from ${formatDate(f.from)}`);
  if (f.to) parts.push(`to ${formatDate(f.to)}`);
  const summary = docs
    ? `Questions use ${docs.length} of ${total} documents (${parts.join(", ")}).`
    : `Questions use all ${total} documents.`;
  $("filter-summary").textContent = summary;
  $("filter-clear").hidden = !docs && !f.search;
  const scope = $("scope");
  scope.hidden = !docs;
  scope.textContent = docs ? summary : "";
  scope.classList.toggle("error", Boolean(docs && !docs.length));
}

function renderDocuments() {
  const list = $("documents");
  const f = filterValues();
  list.replaceChildren();
  let shown = 0;
  for (const doc of state.docs.values()) {
    const visible = (!f.search || doc.title.toLowerCase().includes(f.search)) &&
      (!f.outlet || doc.outlet === f.outlet) && inDates(doc, f);
    if (!visible) continue;
    shown += 1;
    const item = el("li", "doc-row");
    const check = el("input", "doc-check");
    check.type = "checkbox";
    check.checked = state.selected.has(doc.doc_id);
    check.setAttribute("aria-label", `Use in questions: ${doc.title}`);
    check.addEventListener("change", () => {
      if (check.checked) state.selected.add(doc.doc_id);
      else state.selected.delete(doc.doc_id);
      describeScope();
    });
    const open = el("button", "doc");
    open.type = "button";
    open.append(el("span", "doc-title", doc.title), el("span", "meta",
      `${metaLine(doc)} · ${doc.chunk_count} chunk${doc.chunk_count === 1 ? "" : "s"}`));
    open.addEventListener("click", () => showDocument(doc.doc_id));
    const remove = button("Delete", "ghost small delete", () => deleteDocument(doc, remove));
    remove.setAttribute("aria-label", `Delete ${doc.title}`);
    item.append(check, open, remove);
    list.append(item);
  }
  $("doc-count").textContent = shown === state.docs.size ? String(shown) : `${shown} / ${state.docs.size}`;
  if (!state.docs.size) {
    list.append(el("li", "meta", "The index is empty: add articles below or run `rag ingest`."));
  } else if (!shown) {
    list.append(el("li", "meta", "No document matches the search and filters."));
  }
  describeScope();
}

function renderOutlets() {
  const select = $("doc-outlet");
  const current = state.restoredOutlet ?? select.value;
  state.restoredOutlet = null; // an outlet no document has any more is dropped
  const outlets = [...new Set([...state.docs.values()].map((d) => d.outlet).filter(Boolean))].sort();
  const first = el("option", null, "All outlets");
  first.value = "";
  select.replaceChildren(first, ...outlets.map((name) => {
    const option = el("option", null, name);
    option.value = name;
    return option;
  }));
  select.value = outlets.includes(current) ? current : "";
}

async function loadDocuments() {
  const list = $("documents");
  try {
    const response = await fetch("/api/documents");
    if (!response.ok) throw new Error(await errorMessage(response));
    const docs = await response.json();
    state.docs.clear();
    for (const doc of docs) state.docs.set(doc.doc_id, doc);
    for (const id of [...state.selected]) if (!state.docs.has(id)) state.selected.delete(id);
    renderOutlets();
    renderDocuments();
  } catch (err) {
    list.replaceChildren(el("li", "meta error", `Could not load documents: ${err.message}`));
  }
}

function clearFilters() {
  $("doc-search").value = "";
  $("doc-outlet").value = "";
  $("date-from").value = "";
  $("date-to").value = "";
  state.restoredOutlet = null;
  state.selected.clear();
  saveFilters();
  renderDocuments();
  $("doc-search").focus();
}

async function deleteDocument(doc, control) {
  const token = adminToken();
  if (!token) {
    askForToken("Enter the admin token to delete documents, then press Delete again.");
    return;
  }
  if (control.dataset.armed !== "yes") {
    // A second press confirms, so one slip of the keyboard deletes nothing.
    control.dataset.armed = "yes";
    control.textContent = "Confirm delete";
    control.setAttribute("aria-label", `Confirm: delete ${doc.title}`);
    control.classList.add("danger");
    setStatus(`Press “Confirm delete” to remove “${doc.title}” from the index.`);
    clearTimeout(control.disarm);
    control.disarm = setTimeout(() => {
      control.dataset.armed = "";
      control.textContent = "Delete";
      control.setAttribute("aria-label", `Delete ${doc.title}`);
      control.classList.remove("danger");
    }, 6000);
    return;
  }
  control.disabled = true;
  const response = await fetch(`/api/documents/${encodeURIComponent(doc.doc_id)}`, {
    method: "DELETE", headers: { Authorization: `Bearer ${token}` },
  }).catch((err) => ({ ok: false, status: 0, json: async () => ({ error: { message: err.message } }) }));
  if (response.ok) {
    state.selected.delete(doc.doc_id);
    state.texts.delete(doc.doc_id);
    rememberToken(token);
    setStatus(`Deleted “${doc.title}”.`);
    if ($("source-panel").dataset.docId === doc.doc_id) $("source-panel").hidden = true;
    await loadDocuments();
    $("doc-search").focus();
    return;
  }
  control.disabled = false;
  const message = await errorMessage(response);
  if (response.status === 401 || response.status === 403) {
    forgetToken();
    askForToken(`The admin token was refused: ${message}`);
  } else {
    setStatus(`Could not delete “${doc.title}”: ${message}`, true);
  }
}

function renderExamples() {
  const list = $("examples");
  for (const question of EXAMPLES) {
    const item = el("li");
    item.append(button(question, "example", () => {
      $("question").value = question;
      submit();
    }));
    list.append(item);
  }
}

// -- adding articles ---------------------------------------------------------------------

// One list item per article of an uploaded file: what became of it, or why it was skipped.
function recordItem(record) {
  if (record.outcome === "skipped") {
    return el("li", "error", `${record.name}: skipped: ${record.reason}`);
  }
  const n = record.chunks_written;
  return el("li", "ok", `${record.name}: ${record.outcome} “${record.title}” ` +
    `(${n} chunk${n === 1 ? "" : "s"} written)`);
}

function sendJob(job, shared, token) {
  const auth = { Authorization: `Bearer ${token}` };
  if (job.urls) {
    return fetch("/api/documents/urls", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...auth },
      body: JSON.stringify({ urls: job.urls }),
    });
  }
  if (!job.file) {
    return fetch("/api/documents", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...auth },
      body: JSON.stringify(job.body),
    });
  }
  // A request per file, so that RAG_MAX_BODY_BYTES limits each file, not all together.
  const form = new FormData();
  form.append("files", job.file, job.file.name);
  for (const [key, value] of Object.entries(shared)) form.append(key, value);
  return fetch("/api/documents/files", { method: "POST", headers: auth, body: form });
}

async function addArticles(event) {
  event.preventDefault();
  const token = $("admin-token").value.trim() || adminToken();
  if (!token) {
    askForToken("Enter the admin token to add articles.");
    return;
  }
  const pasted = $("add-text").value;
  const files = [...$("add-files").files];
  const urls = $("add-urls").value.split(/\s+/).filter(Boolean);
  if (!pasted.trim() && !files.length && !urls.length) {
    addNote("Paste an article, choose files or give links first.", "error");
    $("add-text").focus();
    return;
  }
  const shared = {};
  if ($("add-outlet").value.trim()) shared.outlet = $("add-outlet").value.trim();
  if ($("add-published").value) shared.published = $("add-published").value;
  const jobs = [];
  if (pasted.trim()) {
    const title = $("add-title-input").value.trim();
    jobs.push({ name: "Pasted text", body: { text: pasted, ...(title ? { title } : {}), ...shared } });
  }
  for (const file of files) jobs.push({ name: file.name, file });
  if (urls.length) jobs.push({ name: `${urls.length} link${urls.length === 1 ? "" : "s"}`, urls });
  const results = $("add-results");
  results.replaceChildren();
  const submitButton = $("add-submit");
  submitButton.disabled = true;
  let added = 0;
  for (const job of jobs) {
    const item = el("li", "pending", `${job.name}: adding…`);
    results.append(item);
    try {
      const response = await sendJob(job, shared, token);
      if (response.status === 401 || response.status === 403) {
        const message = await errorMessage(response);
        forgetToken();
        item.className = "error";
        item.textContent = `${job.name}: the admin token was refused (${message})`;
        $("admin-token").focus();
        break;
      }
      if (!response.ok) throw new Error(await errorMessage(response));
      const result = await response.json();
      rememberToken(token);
      if (job.file || job.urls) {
        const records = job.urls ? result.urls : result.files.flatMap((f) => f.records);
        for (const record of records) {
          if (record.outcome === "skipped") continue;
          state.texts.delete(record.doc_id);
          added += 1;
        }
        item.replaceWith(...(records.length ? records.map(recordItem)
          : [el("li", "error", `${job.name}: no articles in the file`)]));
        continue;
      }
      state.texts.delete(result.document.doc_id);
      added += 1;
      item.className = "ok";
      item.textContent = `${job.name}: ${result.outcome} “${result.document.title}” ` +
        `(${result.chunks_written} chunk${result.chunks_written === 1 ? "" : "s"} written)`;
    } catch (err) {
      item.className = "error";
      item.textContent = `${job.name}: failed: ${err.message}`;
    }
  }
  submitButton.disabled = false;
  if (added) {
    $("add-text").value = "";
    $("add-title-input").value = "";
    $("add-files").value = "";
    $("add-urls").value = "";
    await loadDocuments();
  }
}

// -- source panel ------------------------------------------------------------------------

async function documentText(docId) {
  if (!state.texts.has(docId)) {
    const response = await fetch(`/api/documents/${encodeURIComponent(docId)}`);
    if (!response.ok) throw new Error(await errorMessage(response));
    state.texts.set(docId, await response.json());
  }
  return state.texts.get(docId);
}

function openPanel(docId) {
  const panel = $("source-panel");
  panel.dataset.docId = docId;
  panel.hidden = false;
  // On a phone the panel sits below the conversation: bring it to the top of the screen.
  panel.scrollIntoView({ block: "start", behavior: scrollBehavior() });
  panel.focus({ preventScroll: true });
}

async function showCitation(citation) {
  $("source-n").textContent = citation.n ? `[${citation.n}]` : "";
  $("source-title").textContent = citation.title;
  $("source-meta").textContent = metaLine(citation);
  const support = $("source-support");
  support.hidden = citation.supported !== false;
  support.textContent = "Not every fact of the cited sentence was found in this passage.";
  const box = $("source-text");
  box.replaceChildren(el("p", "meta", "Loading…"));
  openPanel(citation.doc_id);
  try {
    const doc = await documentText(citation.doc_id);
    const text = doc.text;
    const start = Math.max(0, citation.char_start - CONTEXT_CHARS);
    const end = Math.min(text.length, citation.char_end + CONTEXT_CHARS);
    // Cut the context at word boundaries so the excerpt does not open mid-word.
    const from = start === 0 ? 0 : text.indexOf(" ", start) + 1;
    const toSpace = text.lastIndexOf(" ", end);
    const to = end === text.length || toSpace < citation.char_end ? end : toSpace;
    const mark = el("mark", null);
    const a = citation.answer_start, b = citation.answer_end;
    if (a != null && b != null && a >= citation.char_start && b <= citation.char_end) {
      // The short answer stands out inside the quoted sentence.
      mark.append(text.slice(citation.char_start, a), el("strong", "answer-span", text.slice(a, b)),
        text.slice(b, citation.char_end));
    } else {
      mark.append(text.slice(citation.char_start, citation.char_end));
    }
    box.replaceChildren(
      (from > 0 ? "… " : "") + text.slice(from, citation.char_start),
      mark,
      text.slice(citation.char_end, to) + (to < text.length ? " …" : ""),
    );
    // Scroll the excerpt box itself (not the page) so the quote sits near its top third.
    box.scrollTop = Math.max(0, mark.offsetTop - box.clientHeight / 3);
  } catch (err) {
    box.replaceChildren(el("p", "quote", citation.quote || citation.text),
      el("p", "meta error", `Full text unavailable: ${err.message}`));
  }
}

async function showDocument(docId) {
  const info = state.docs.get(docId);
  $("source-n").textContent = "";
  $("source-title").textContent = info ? info.title : docId;
  $("source-meta").textContent = info ? metaLine(info) : "";
  $("source-support").hidden = true;
  const box = $("source-text");
  box.replaceChildren(el("p", "meta", "Loading…"));
  openPanel(docId);
  try {
    box.replaceChildren((await documentText(docId)).text);
    box.scrollTop = 0;
  } catch (err) {
    box.replaceChildren(el("p", "meta error", err.message));
  }
}

// -- conversation ------------------------------------------------------------------------

function addTurn(question) {
  $("empty").hidden = true;
  const turn = el("li", "turn");
  turn.append(el("p", "q", question));
  const answer = el("div", "a");
  const body = el("p", "answer-text streaming");
  answer.append(body);
  turn.append(answer);
  $("turns").append(turn);
  turn.scrollIntoView({ block: "end", behavior: scrollBehavior() });
  return { turn, answer, body };
}

function citeLink(label, citation, className) {
  const link = el("a", className, label);
  link.href = "#source-panel";
  link.addEventListener("click", (event) => {
    event.preventDefault();
    showCitation(citation);
  });
  return link;
}

// A retrieved passage, opened in the source panel like a citation.
function passageItem(p) {
  const item = el("li", "passage");
  const head = el("p", "passage-head");
  head.append(citeLink(`[${p.n}] ${p.title}`, { ...p, quote: p.text, supported: true }),
    el("span", "meta", ` — ${metaLine(p)}${p.score != null ? ` · score ${p.score.toFixed(3)}` : ""}`));
  item.append(head, el("p", "passage-text", p.text));
  return item;
}

function renderAnswer(view, result, passages) {
  const byN = new Map(result.citations.map((c) => [c.n, c]));
  view.body.classList.remove("streaming");
  view.answer.classList.toggle("refusal", !result.answerable);
  view.body.replaceChildren();
  if (!result.answerable) {
    view.answer.prepend(el("p", "verdict", "No answer in the indexed articles"));
  }
  // Split on markers; the captured numbers come back at odd indices.
  const parts = result.answer.split(/\[(\d+)\]/);
  parts.forEach((part, i) => {
    const citation = i % 2 ? byN.get(Number(part)) : undefined;
    if (i % 2 === 0) {
      view.body.append(part);
    } else if (citation) {
      const link = citeLink(`[${part}]`, citation, citation.supported ? "cite" : "cite unsupported");
      link.title = `${citation.title} — ${metaLine(citation)}`;
      view.body.append(link);
    } else {
      view.body.append(`[${part}]`);
    }
  });
  // How sure the reader is, and what other articles say (api: confidence, corroborated_by,
  // conflicts). Under UNSURE_BELOW (rag/public.py) an answer is shown as unsure.
  view.answer.classList.toggle("unsure", result.answerable && result.confidence != null &&
    result.confidence < UNSURE_BELOW);
  if (result.answerable && result.confidence != null) {
    const percent = `${Math.round(100 * result.confidence)}%`;
    const unsure = result.confidence < UNSURE_BELOW;
    view.answer.append(el("p", unsure ? "confidence low" : "confidence",
      unsure ? `Unsure (confidence ${percent}): check the quoted passage` : `Confidence ${percent}`));
  }
  if (result.answerable) {
    const cited = new Set(result.citations.map((c) => c.doc_id));
    const others = (result.corroborated_by || []).filter((d) => !cited.has(d));
    if (others.length) {
      view.answer.append(el("p", "agreement",
        others.length > 1 ? `${others.length} other articles state the same answer`
          : "1 other article states the same answer"));
    }
    for (const c of result.conflicts || []) {
      const line = el("p", "conflict");
      line.append(`Another article gives another value: ${c.value} — “${c.quote}” (${c.doc_id})`);
      view.answer.append(line);
    }
  }
  if (result.citations.length) {
    const sources = el("ol", "sources");
    for (const c of result.citations) {
      const item = el("li");
      item.append(citeLink(`[${c.n}] ${c.title}`, c), el("span", "meta", ` — ${metaLine(c)}`));
      sources.append(item);
    }
    view.answer.append(sources);
  }
  passages = passages || [];
  if (!result.answerable && passages.length) {
    const closest = el("div", "closest");
    closest.append(el("h3", null, "Closest passages found"));
    const list = el("ol", "passages");
    for (const p of passages.slice(0, CLOSEST_PASSAGES)) list.append(passageItem(p));
    closest.append(list);
    view.answer.append(closest);
  }
  if (passages.length) {
    const list = el("ol", "passages all-passages");
    list.hidden = true;
    for (const p of passages) list.append(passageItem(p));
    const label = (open) => `${open ? "Hide" : "Show"} all retrieved passages (${passages.length})`;
    const toggle = button(label(false), "ghost small toggle", () => {
      list.hidden = !list.hidden;
      toggle.textContent = label(!list.hidden);
      toggle.setAttribute("aria-expanded", String(!list.hidden));
    });
    toggle.setAttribute("aria-expanded", "false");
    view.answer.append(toggle, list);
  }
  const details = el("p", "meta small");
  const total = result.timings_ms && result.timings_ms.total;
  details.textContent = `Searched for “${result.retrieval_query}”` +
    (total ? ` · ${Math.round(total)} ms` : "");
  view.answer.append(details);
}

function showError(view, message) {
  view.body.classList.remove("streaming");
  view.body.classList.add("error");
  view.body.textContent = message;
}

// A stored turn, drawn again after a reload.
function renderTurn(turn) {
  const view = addTurn(turn.question);
  if (turn.result) renderAnswer(view, turn.result, turn.passages);
  else showError(view, turn.error || "No answer was stored.");
}

// Reads a text/event-stream body and calls onEvent(name, data) per message.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

async function submit() {
  const input = $("question");
  const question = input.value.trim();
  if (!question || state.busy) return;
  let filters;
  try {
    filters = chatFilters();
  } catch (err) {
    setStatus(`Not sent: ${err.message}.`, true);
    return;
  }
  state.busy = true;
  $("send").disabled = true;
  input.value = "";
  setStatus("Searching the articles…");
  const view = addTurn(question);
  const messages = [...state.messages, { role: "user", content: question }];
  const turn = { question };
  let result = null;
  let passages = [];
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ messages, stream: true, ...(filters ? { filters } : {}) }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await readEvents(response, (name, data) => {
      if (name === "sources") {
        passages = data.passages;
        setStatus(`Found ${data.passages.length} passages; writing the answer…`);
      } else if (name === "token") {
        view.body.append(data.text);
      } else if (name === "done") {
        result = data;
      } else if (name === "error") {
        throw new Error(data.error.message);
      }
    });
    if (!result) throw new Error("the answer stream ended early");
    renderAnswer(view, result, passages);
    turn.result = result;
    turn.passages = passages;
    state.messages = [...messages, { role: "assistant", content: result.answer }]
      .slice(-HISTORY_MESSAGES);
    setStatus("");
  } catch (err) {
    turn.error = `Sorry, that failed: ${err.message}`;
    showError(view, turn.error);
    setStatus("");
  } finally {
    state.turns.push(turn);
    saveConversation();
    state.busy = false;
    $("send").disabled = false;
    input.focus();
  }
}

function newConversation() {
  state.messages = [];
  state.turns = [];
  saveConversation();
  $("turns").replaceChildren();
  $("empty").hidden = false;
  $("source-panel").hidden = true;
  setStatus("");
  $("question").focus();
}

// -- export ------------------------------------------------------------------------------

function markdownLine(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

function conversationMarkdown() {
  const lines = ["# News RAG conversation", "", `Exported ${new Date().toISOString()}`, ""];
  state.turns.forEach((turn, i) => {
    lines.push(`## ${i + 1}. ${markdownLine(turn.question)}`, "");
    if (!turn.result) {
      lines.push(`_${markdownLine(turn.error || "No answer.")}_`, "");
      return;
    }
    const r = turn.result;
    if (!r.answerable) lines.push("**No answer in the indexed articles.**", "");
    lines.push(r.answer.trim(), "");
    if (r.citations.length) {
      lines.push("Sources:", "");
      for (const c of r.citations) {
        const date = c.published || "date not given";
        const outlet = c.outlet ? `, ${c.outlet}` : "";
        const page = c.page != null ? `, p. ${c.page}` : "";
        lines.push(`- [${c.n}] ${markdownLine(c.title)} (${date}${outlet}${page}): “${markdownLine(c.quote)}”`);
      }
      lines.push("");
    }
  });
  return lines.join("\n");
}

function exportMarkdown() {
  if (!state.turns.length) {
    setStatus("Nothing to export yet: ask a question first.");
    return;
  }
  const blob = new Blob([conversationMarkdown()], { type: "text/markdown;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = el("a");
  link.href = url;
  link.download = `news-rag-conversation-${new Date().toISOString().slice(0, 10)}.md`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

document.addEventListener("DOMContentLoaded", () => {
  renderExamples();
  loadFilters();
  loadDocuments();
  loadConversation();
  const stored = storage("session");
  $("admin-token").value = (stored && stored.getItem(TOKEN_KEY)) || "";
  $("admin-token").addEventListener("change", () => rememberToken($("admin-token").value.trim()));
  $("token-forget").addEventListener("click", () => {
    forgetToken();
    addNote("The admin token is forgotten.");
    $("admin-token").focus();
  });
  $("add-form").addEventListener("submit", addArticles);
  for (const id of ["doc-search", "doc-outlet", "date-from", "date-to"]) {
    $(id).addEventListener("input", () => {
      renderDocuments();
      saveFilters();
    });
  }
  $("filter-clear").addEventListener("click", clearFilters);
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  $("new-chat").addEventListener("click", newConversation);
  $("export").addEventListener("click", exportMarkdown);
  $("source-close").addEventListener("click", () => {
    $("source-panel").hidden = true;
    $("question").focus();
  });
  $("question").focus();
});
