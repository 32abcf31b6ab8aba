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

const $ = (id) => document.getElementById(id);
const state = { messages: [], busy: false, docs: new Map(), texts: new Map() };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
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
  return parts.length ? parts.join(" · ") : "outlet and date not given";
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text || "";
  status.classList.toggle("error", Boolean(isError));
}

// -- documents and examples --------------------------------------------------------

async function loadDocuments() {
  const list = $("documents");
  try {
    const response = await fetch("/api/documents");
    const docs = await response.json();
    if (!response.ok) throw new Error(docs.error ? docs.error.message : response.statusText);
    list.replaceChildren();
    state.docs.clear();
    for (const doc of docs) {
      state.docs.set(doc.doc_id, doc);
      const item = el("li");
      const button = el("button", "doc");
      button.type = "button";
      button.append(el("span", "doc-title", doc.title), el("span", "meta",
        `${metaLine(doc)} · ${doc.chunk_count} chunk${doc.chunk_count === 1 ? "" : "s"}`));
      button.addEventListener("click", () => showDocument(doc.doc_id));
      item.append(button);
      list.append(item);
    }
    $("doc-count").textContent = String(docs.length);
    if (!docs.length) list.append(el("li", "meta", "The index is empty: run `rag ingest`."));
  } catch (err) {
    list.replaceChildren(el("li", "meta error", `Could not load documents: ${err.message}`));
  }
}

function renderExamples() {
  const list = $("examples");
  for (const question of EXAMPLES) {
    const item = el("li");
    const button = el("button", "example", question);
    button.type = "button";
    button.addEventListener("click", () => {
      $("question").value = question;
      submit();
    });
    item.append(button);
    list.append(item);
  }
}

// -- source panel ------------------------------------------------------------------

async function documentText(docId) {
  if (!state.texts.has(docId)) {
    const response = await fetch(`/api/documents/${encodeURIComponent(docId)}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    state.texts.set(docId, body);
  }
  return state.texts.get(docId);
}

function openPanel() {
  const panel = $("source-panel");
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
  panel.focus({ preventScroll: true });
}

async function showCitation(citation) {
  $("source-n").textContent = `[${citation.n}]`;
  $("source-title").textContent = citation.title;
  $("source-meta").textContent = metaLine(citation);
  const support = $("source-support");
  support.hidden = citation.supported;
  support.textContent = "Not every fact of the cited sentence was found in this passage.";
  const box = $("source-text");
  box.replaceChildren(el("p", "meta", "Loading…"));
  openPanel();
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
    box.replaceChildren(el("p", "quote", citation.quote),
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
  openPanel();
  try {
    box.replaceChildren((await documentText(docId)).text);
  } catch (err) {
    box.replaceChildren(el("p", "meta error", err.message));
  }
}

// -- conversation --------------------------------------------------------------------

function addTurn(question) {
  $("empty").hidden = true;
  const turn = el("li", "turn");
  turn.append(el("p", "q", question));
  const answer = el("div", "a");
  const body = el("p", "answer-text streaming");
  answer.append(body);
  turn.append(answer);
  $("turns").append(turn);
  turn.scrollIntoView({ block: "end", behavior: "smooth" });
  return { turn, answer, body };
}

function renderAnswer(view, result) {
  const byN = new Map(result.citations.map((c) => [c.n, c]));
  view.body.classList.remove("streaming");
  view.body.classList.toggle("refusal", !result.answerable);
  view.body.replaceChildren();
  // Split on markers; the captured numbers come back at odd indices.
  const parts = result.answer.split(/\[(\d+)\]/);
  parts.forEach((part, i) => {
    const citation = i % 2 ? byN.get(Number(part)) : undefined;
    if (i % 2 === 0) {
      view.body.append(part);
    } else if (citation) {
      const link = el("a", citation.supported ? "cite" : "cite unsupported", `[${part}]`);
      link.href = "#source-panel";
      link.title = `${citation.title} — ${metaLine(citation)}`;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        showCitation(citation);
      });
      view.body.append(link);
    } else {
      view.body.append(`[${part}]`);
    }
  });
  if (result.citations.length) {
    const sources = el("ol", "sources");
    for (const c of result.citations) {
      const item = el("li");
      const link = el("a", null, `[${c.n}] ${c.title}`);
      link.href = "#source-panel";
      link.addEventListener("click", (event) => {
        event.preventDefault();
        showCitation(c);
      });
      item.append(link, el("span", "meta", ` — ${metaLine(c)}`));
      sources.append(item);
    }
    view.answer.append(sources);
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
  state.busy = true;
  $("send").disabled = true;
  input.value = "";
  setStatus("Searching the articles…");
  const view = addTurn(question);
  const messages = [...state.messages, { role: "user", content: question }];
  let result = null;
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ messages, stream: true }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    }
    await readEvents(response, (name, data) => {
      if (name === "sources") {
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
    renderAnswer(view, result);
    state.messages = [...messages, { role: "assistant", content: result.answer }]
      .slice(-HISTORY_MESSAGES);
    setStatus("");
  } catch (err) {
    showError(view, `Sorry, that failed: ${err.message}`);
    setStatus("");
  } finally {
    state.busy = false;
    $("send").disabled = false;
    input.focus();
  }
}

function newConversation() {
  state.messages = [];
  $("turns").replaceChildren();
  $("empty").hidden = false;
  $("source-panel").hidden = true;
  setStatus("");
  $("question").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  renderExamples();
  loadDocuments();
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
  $("source-close").addEventListener("click", () => {
    $("source-panel").hidden = true;
    $("question").focus();
  });
  $("question").focus();
});
