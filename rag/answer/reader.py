"""The offline default answerer: a trained extractive reader that picks the short answer.

1. **Read.** The sentences of the top `PASSAGES` passages that match the question best
   (`WINDOWS` of them, each with its neighbours) are read in one batch by a span model:
   MiniLM-L6 fine-tuned on SQuAD 1.1 with unanswerable negatives (`make train-reader`),
   run as int8 ONNX with onnxruntime (rag/answer/model/; its card says how it was made
   and how it scores). A window longer than the model's input is read in overlapping
   pieces, as the model was trained.
2. **Candidates.** Each window's best few spans (start and end logits, at most `MAX_SPAN`
   wordpieces) are snapped to whole words at article offsets. The model's margin over the
   window's "no answer" score ([CLS]) is the main evidence.
3. **Score.** A small logistic scorer combines that margin with what the model cannot see
   (`FEATURES`: the passage's retrieval rank, whether the span is of the type the question
   asks for, key terms of the question the article lacks, agreement between documents…).
   Its weights and the refusal threshold are *fitted* on the dev questions by
   `python -m evals.fit_scorer` (rag/answer/model/scorer.json), never set by hand. The
   scorer's probability is the answer's `confidence`.
4. **Answer** or refuse: under the fitted threshold the reader says the articles do not
   answer. An answer leads with the span, then quotes the sentence that states it:
   `60 days — "The state … for 60 days …" [1]`; other documents' values of the same kind
   are reported as conflicts.
"""

import bisect
import difflib
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.answer.generate import REFUSAL, Draft
from rag.answer.question import Question, analyse_question
from rag.answer.text import folded_words
from rag.errors import ConfigError
from rag.nlp import Annotation, annotate
from rag.schema import Conflict, Passage

MODEL_DIR = Path(__file__).parent / "model"
PASSAGES = 5  # passages whose sentences may be read (retrieval's best first)
# Windows read per question: the best-matching sentences with their neighbours. Chosen on
# the dev questions (evals/README.md): 4, 8 and 16 windows gave cross-validated answer
# accuracy 0.70, 0.75 and 0.80; 16 reads nearly all of the five passages.
WINDOWS = 16
CONTEXT_SENTENCES = 1  # sentences on each side of a matching sentence in its window
MAX_TOKENS = 256  # window length in wordpieces, question included, as in training
STRIDE = 128  # wordpieces two windows of one passage share, as in training
MAX_SPAN = 24  # longest answer in wordpieces (SQuAD's answers are far shorter)
TOP_LOGITS = 12  # best start and end positions paired per window
SPANS_PER_WINDOW = 3  # distinct spans kept per window
CONFLICT_SHARE = 0.8  # another document's value conflicts from this share of the best's score
KEEP_ANNOTATIONS = 256  # documents whose parsed annotation each process keeps (≈90 kB each)

# What the scorer sees of a candidate, in scorer.json's order.
FEATURES = (
    "margin",  # the span's score minus the window's no-answer score (model logits)
    "gap",  # the span's score minus its window's best span's (0 for the best)
    "sentence",  # share of the question's term weight its sentence matches (`_sentences`)
    "rank",  # 1 / retrieval rank of the passage
    "expected",  # the span is (or holds) an entity of a label the question asks for
    "other_type",  # the question asks for a type and the span is an entity of another
    "missing",  # share of the question's key terms (by weight) the article lacks
    "overlap",  # share of the span's words the question already has
    "words",  # the span's length in words, up to 10, over 10
    "agree",  # other documents with a candidate of the same value (up to 3), over 3
)

Annotations = Callable[[Sequence[Passage]], list[Annotation]]


@dataclass(frozen=True)
class Span:
    """A span the model proposes in one context (a window): offsets into its text."""

    start: int
    end: int
    score: float  # start + end logits
    null: float  # the window's no-answer score
    best: float  # the window's best span score


class SpanModel:
    """The span model of `MODEL_DIR`: onnxruntime and the `tokenizers` tokenizer.

    Loaded on first use (a `ConfigError` names a missing or unreadable file); one session
    serves every thread (onnxruntime's `run` is thread-safe)."""

    def __init__(self, folder: Path = MODEL_DIR, threads: int = 2) -> None:
        self.folder = folder
        self.threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                try:
                    tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                    session = ort.InferenceSession(
                        str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime and tokenizers raise their own types
                    message = f"cannot load the reader model in {self.folder}: {exc}"
                    raise ConfigError(message) from exc
                tokenizer.no_truncation()
                tokenizer.no_padding()
                self._loaded = (tokenizer, session)
            return self._loaded

    def read(self, question: str, contexts: Sequence[str]) -> list[list[Span]]:
        """The best spans of each context, best first (offsets into that context)."""
        import numpy as np

        tokenizer, session = self.load()
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        q_ids = tokenizer.encode(question, add_special_tokens=False).ids[: MAX_TOKENS // 4]
        room = MAX_TOKENS - len(q_ids) - 3
        # The windows are cut here rather than by the tokenizer's own overflow: for a pair
        # it nests overflowing encodings, and the windows must match training's exactly
        # ([CLS] question [SEP] context-window [SEP], `STRIDE` shared).
        rows: list[tuple[int, list[int], list[tuple[int, int]]]] = []
        for c, context in enumerate(contexts):
            enc = tokenizer.encode(context, add_special_tokens=False)
            ids, offsets = enc.ids, enc.offsets
            lo = 0
            while True:
                rows.append((c, ids[lo : lo + room], offsets[lo : lo + room]))
                if lo + room >= len(ids):
                    break
                lo += room - STRIDE
        if not rows:
            return [[] for _ in contexts]
        width = max(len(q_ids) + 3 + len(r[1]) for r in rows)
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros_like(input_ids)
        mask = np.zeros_like(input_ids)
        first = len(q_ids) + 2  # the first context position
        for i, (_, ids, _) in enumerate(rows):
            seq = [cls_id, *q_ids, sep_id, *ids, sep_id]
            input_ids[i, : len(seq)] = seq
            types[i, first : len(seq)] = 1
            mask[i, : len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}
        starts, ends = session.run(["start_logits", "end_logits"], feeds)
        out: list[list[Span]] = [[] for _ in contexts]
        for i, (c, _, offsets) in enumerate(rows):
            out[c] += _spans(starts[i].tolist(), ends[i].tolist(), first, offsets)
        for spans in out:
            spans.sort(key=lambda s: s.score - s.null, reverse=True)
        return out


def _spans(
    start: list[float], end: list[float], first: int, offsets: list[tuple[int, int]]
) -> list[Span]:
    """A window's best distinct spans: `TOP_LOGITS` starts by `TOP_LOGITS` ends, each at
    most `MAX_SPAN` wordpieces long, overlapping a better one not counted twice."""
    null = start[0] + end[0]
    n = len(offsets)
    positions = range(first, first + n)
    starts = sorted(positions, key=lambda k: -start[k])[:TOP_LOGITS]
    ends = sorted(positions, key=lambda k: -end[k])[:TOP_LOGITS]
    pairs = sorted(
        ((start[s] + end[e], s, e) for s in starts for e in ends if s <= e < s + MAX_SPAN),
        reverse=True,
    )
    kept: list[tuple[float, int, int]] = []
    for score, s, e in pairs:
        if all(e < ks or s > ke for _, ks, ke in kept):
            kept.append((score, s, e))
            if len(kept) == SPANS_PER_WINDOW:
                break
    best = kept[0][0] if kept else null
    return [
        Span(offsets[s - first][0], offsets[e - first][1], score, null, best)
        for score, s, e in kept
    ]


# Characters trimmed off a span's ends: the model's wordpieces may take a sentence's full
# stop, a comma or a quotation mark with the answer.
_EDGE = " \t\n.,;:!?\"'“”‘’()[]«»—–-"


def snap(text: str, start: int, end: int) -> tuple[int, int]:
    """A span grown to whole words and trimmed of punctuation and a possessive "'s"."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    possessive = re.search(r"[’']s?$", text[start:end])
    if possessive and possessive.start() > 0:
        end = start + possessive.start()
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        # A closing bracket or quotation that was opened inside the span stays.
        closing = text[end - 1]
        pair = {")": "(", "]": "[", "”": "“", "’": "‘"}.get(closing)
        if pair and pair in text[start : end - 1]:
            break
        end -= 1
    return start, end


@dataclass
class Candidate:
    """A possible answer: a span of one passage, its features and the scorer's score."""

    passage: int  # 1-based
    doc_id: str
    value: tuple[int, int]  # article offsets
    sentence: tuple[int, int]  # article offsets of the sentence(s) holding it
    text: str
    label: str | None  # the label of the entity the span is, if any
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the scorer's probability that this is a right answer
    docs: set[str] = field(default_factory=set)  # documents stating the same value


class Scorer:
    """The logistic scorer of candidates: weights and a threshold fitted on dev questions."""

    def __init__(self, weights: dict[str, float], bias: float, threshold: float) -> None:
        self.weights, self.bias, self.threshold = weights, bias, threshold

    @classmethod
    def load(cls, path: Path = MODEL_DIR / "scorer.json") -> "Scorer":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            weights = {name: float(raw["weights"][name]) for name in FEATURES}
            return cls(weights, float(raw["bias"]), float(raw["threshold"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the reader's scorer {path}: {exc!r}") from exc

    def __call__(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def variant(a: str, b: str) -> bool:
    """Whether two answers name the same value: equal, one inside the other ("Smith",
    "John Smith"), or spelled nearly alike; numbers must be the same numbers."""
    wa, wb = folded_words(a), folded_words(b)
    if not wa or not wb:
        return False
    if [w for w in wa if w.isdigit()] != [w for w in wb if w.isdigit()]:
        return False
    short, long = sorted((wa, wb), key=len)
    if any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1)):
        return True
    return difflib.SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio() >= 0.75


def _expected(q: Question, label: str | None) -> tuple[float, float]:
    """(span is of an asked-for type, span is of another type) for the scorer."""
    if not q.typed or label is None:
        return 0.0, 0.0
    return (1.0, 0.0) if label in q.labels else (0.0, 1.0)


def _label(annotation: Annotation, start: int, end: int) -> str | None:
    """The label of the entity that the span is or holds most of (article offsets)."""
    best, share = None, 0.0
    for e in annotation.entities:
        inter = min(end, e.end) - max(start, e.start)
        if inter > 0:
            s = inter / max(end - start, e.end - e.start)
            if s > share:
                best, share = e.label, s
    return best if share >= 0.5 else None


def _sentence(annotation: Annotation, passage: Passage, start: int, end: int) -> tuple[int, int]:
    """The sentence (or run of sentences) holding the span, inside the passage."""
    lo, hi = start, end
    for a, b in annotation.sentences:
        if a < end and b > start:
            lo, hi = min(lo, a), max(hi, b)
    return max(lo, passage.char_start), min(hi, passage.char_end)


def _missing(q: Question, passage: Passage, annotation: Annotation) -> float:
    """Share of the question's key terms (by weight) that the passage's article lacks: in
    none of its lemmas (the annotation covers the whole article), nor in the passage's
    words or its title. A question naming what the article never mentions is most often
    one it does not answer, though the passage that answers may not repeat every name."""
    keys = [t for t in q.terms if t.key]
    total = sum(t.weight for t in keys)
    if not total:
        return 0.0
    lemmas = {lemma for t in annotation.tokens for lemma in t.lemmas}
    words = set(folded_words(passage.text)) | set(folded_words(passage.title))
    lacking = sum(
        t.weight for t in keys if t.lemma not in lemmas and not set(folded_words(t.text)) <= words
    )
    return lacking / total


@dataclass(frozen=True)
class Window:
    """A stretch of one passage the model reads: article offsets."""

    passage: int  # 0-based, in retrieval order
    start: int
    end: int


def _sentences(
    q: Question, passage: Passage, annotation: Annotation
) -> list[tuple[int, int, float]]:
    """The passage's sentences (article offsets, clipped to the passage) with the share of
    the question's term weight each matches: a term counts when one of its lemmas or its
    written form is in the sentence. A passage without annotated sentences is one."""
    lo, hi = passage.char_start, passage.char_end
    spans = [(max(a, lo), min(b, hi)) for a, b in annotation.sentences if a < hi and b > lo]
    spans = [(a, b) for a, b in spans if a < b] or [(lo, hi)]
    total = sum(t.weight for t in q.terms) or 1.0
    tokens = sorted(annotation.tokens, key=lambda t: t.start)
    starts = [t.start for t in tokens]
    out = []
    for a, b in spans:
        lemmas = {
            lemma
            for t in tokens[bisect.bisect_left(starts, a) : bisect.bisect_left(starts, b)]
            for lemma in t.lemmas
        }
        words = set(folded_words(passage.span_text(a, b)))
        matched = sum(
            t.weight for t in q.terms if t.lemma in lemmas or set(folded_words(t.text)) <= words
        )
        out.append((a, b, matched / total))
    return out


def choose_windows(
    sentences: Sequence[Sequence[tuple[int, int, float]]], count: int = WINDOWS
) -> list[Window]:
    """The `count` sentences that match the question best (the better-ranked passage first
    on a tie), each with `CONTEXT_SENTENCES` on each side; windows of one passage that
    touch are merged. The model then reads a few hundred wordpieces, not whole passages."""
    ranked = sorted(
        ((m, p, i) for p, spans in enumerate(sentences) for i, (_, _, m) in enumerate(spans)),
        key=lambda x: (-x[0], x[1], x[2]),
    )[:count]
    chosen: dict[int, list[tuple[int, int]]] = {}
    for _, p, i in ranked:
        lo, hi = max(0, i - CONTEXT_SENTENCES), min(len(sentences[p]) - 1, i + CONTEXT_SENTENCES)
        chosen.setdefault(p, []).append((lo, hi))
    windows = []
    for p in sorted(chosen):
        merged: list[list[int]] = []
        for lo, hi in sorted(chosen[p]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        windows += [Window(p, sentences[p][lo][0], sentences[p][hi][1]) for lo, hi in merged]
    return windows


class Reader:
    """Answers with the short answer and the sentence that states it, or refuses."""

    name = "extractive"
    final_stream = True

    def __init__(
        self,
        annotations: Annotations,
        model: SpanModel | None = None,
        scorer: Callable[[], Scorer] = Scorer.load,
        windows: int = WINDOWS,
    ) -> None:
        self._annotations = annotations
        self.windows = windows
        self._model = model or shared_model()
        self._scorer_factory = scorer
        self._scorer: Scorer | None = None

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = self._scorer_factory()
        return self._scorer

    def rewrite(self, history: str, question: str) -> str | None:
        """None: the reader leaves follow-ups to the conversation heuristic."""
        return None

    def check(self) -> None:
        """Load the span model, the scorer and spaCy (a `ConfigError` if one is missing)."""
        self._model.load()
        _ = self.scorer
        analyse_question("When did it happen?")

    def candidates(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        """Every candidate answer of the top passages' windows, scored, best first."""
        read = list(passages[:PASSAGES])
        if not read:
            return []
        q = analyse_question(question)
        asked = set(folded_words(question))
        annotations = self._annotations(read)
        sentences = [_sentences(q, p, a) for p, a in zip(read, annotations, strict=True)]
        missing = [_missing(q, p, a) for p, a in zip(read, annotations, strict=True)]
        windows = choose_windows(sentences, self.windows)
        spans = self._model.read(
            question, [read[w.passage].span_text(w.start, w.end) for w in windows]
        )
        found: list[Candidate] = []
        seen: set[tuple[int, int]] = set()
        for window, proposed in zip(windows, spans, strict=True):
            passage, annotation = read[window.passage], annotations[window.passage]
            shift = window.start - passage.char_start  # window offsets → passage offsets
            for span in proposed:
                a, b = snap(passage.text, shift + span.start, shift + span.end)
                start, end = passage.char_start + a, passage.char_start + b
                if a >= b or (start, end) in seen:
                    continue  # two spans snapped to the same words count once
                seen.add((start, end))
                text = passage.text[a:b]
                label = _label(annotation, start, end)
                expected, other = _expected(q, label)
                words = folded_words(text)
                features = {
                    "margin": span.score - span.null,
                    "gap": span.score - span.best,
                    "sentence": max(
                        (m for lo, hi, m in sentences[window.passage] if lo < end and hi > start),
                        default=0.0,
                    ),
                    "rank": 1.0 / (window.passage + 1),
                    "expected": expected,
                    "other_type": other,
                    "missing": missing[window.passage],
                    "overlap": sum(w in asked for w in words) / max(1, len(words)),
                    "words": min(len(words), 10) / 10,
                }
                found.append(Candidate(window.passage + 1, passage.doc_id, (start, end),
                                       _sentence(annotation, passage, start, end), text,
                                       label, features))  # fmt: skip
        self._agree(found)
        scorer = self.scorer
        for c in found:
            c.score = scorer(c.features)
        return sorted(found, key=lambda c: c.score, reverse=True)

    @staticmethod
    def _agree(found: list[Candidate]) -> None:
        """Which documents state each candidate's value (a variant of it, with a margin
        over no answer), and the `agree` feature from how many others do."""
        strong = [c for c in found if c.features["margin"] > 0]
        for c in found:
            c.docs = {c.doc_id} | {o.doc_id for o in strong if variant(o.text, c.text)}
            c.features["agree"] = min(len(c.docs) - 1, 3) / 3

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        ranked = self.candidates(question, passages)
        if not ranked or ranked[0].score < self.scorer.threshold:
            # A refusal is as sure as its best candidate is unlikely.
            top = ranked[0].score if ranked else 0.0
            return Draft(REFUSAL, answerable=False, confidence=round(1.0 - top, 4))
        best = ranked[0]
        passage = passages[best.passage - 1]
        quote = passage.span_text(*best.sentence)
        text = f'{best.text} — "{quote}" [{best.passage}]'
        # Supported: the quote is the article's own sentence holding the value.
        citation = passage.cite(best.passage, *best.sentence, supported=True, answer=best.value)
        return Draft(
            text,
            answerable=True,
            citations=[citation],
            corroborated_by=sorted(best.docs),
            conflicts=self._conflicts(best, ranked, passages),
            confidence=round(best.score, 4),
        )

    def _conflicts(
        self, best: Candidate, ranked: list[Candidate], passages: Sequence[Passage]
    ) -> list[Conflict]:
        """Documents whose own best value is of the answer's kind but another value."""
        out: list[Conflict] = []
        seen = set(best.docs)
        floor = max(self.scorer.threshold, CONFLICT_SHARE * best.score)
        for c in ranked:
            if c.doc_id in seen:
                continue
            seen.add(c.doc_id)  # only a document's own best candidate speaks for it
            if c.score >= floor and c.label == best.label and not variant(c.text, best.text):
                quote = passages[c.passage - 1].span_text(*c.sentence)
                out.append(Conflict(c.doc_id, c.text, quote))
        return out

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        draft = self.generate(question, passages)
        yield from re.findall(r"\S+\s*", draft.text)
        yield draft


@lru_cache(maxsize=1)
def shared_model() -> SpanModel:
    """The bundled span model, loaded once per process for every reader."""
    return SpanModel()


def passage_annotations(
    lookup: Callable[[Sequence[str]], dict[str, tuple[str, Annotation]]],
    keep: int = KEEP_ANNOTATIONS,
) -> Annotations:
    """Annotations for passages from the store's `get_annotations`; a passage whose stored
    annotation is missing or of another text (an index from an older version) is
    annotated on the spot.

    The last `keep` documents' parsed annotations are kept with their text's hash, so a
    question reads from the store (over HTTP, with a Chroma server) only documents it has
    not seen in that version; a changed document has a new hash and is read again."""
    kept: OrderedDict[str, tuple[str, Annotation]] = OrderedDict()
    lock = threading.Lock()  # requests run in a thread pool

    def annotations(passages: Sequence[Passage]) -> list[Annotation]:
        with lock:
            stored = {p.doc_id: kept[p.doc_id] for p in passages
                      if p.doc_sha and kept.get(p.doc_id, ("",))[0] == p.doc_sha}  # fmt: skip
        missing = [p.doc_id for p in passages if p.doc_id not in stored]
        if missing:
            stored.update(lookup(missing))
        with lock:
            for doc_id, entry in stored.items():
                kept[doc_id] = entry
                kept.move_to_end(doc_id)
            while len(kept) > keep:
                kept.popitem(last=False)
        out = []
        for p in passages:
            sha, annotation = stored.get(p.doc_id, ("", None))
            if annotation is None or (p.doc_sha and sha != p.doc_sha):
                annotation = annotate(p.text).shifted(p.char_start)
            out.append(annotation)
        return out

    return annotations
