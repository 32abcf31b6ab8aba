"""Train the extractive reader: MiniLM-L6 with a span head, fine-tuned on SQuAD 1.1 plus negatives.

Run by `make train-reader` in its own venv (`.venv-train`: torch, transformers); never by CI
or `make test`. The run checkpoints model, optimiser, scheduler and data position every
`--checkpoint-minutes` under `--work` (outside the work tree), and a rerun with the same
arguments resumes where the last checkpoint stopped: on a shared 2-core machine a run takes
hours and may be cut off at any point. Every step's loss and rate, and every held-out
evaluation, go to `log.jsonl` beside the checkpoint.

Negatives teach the `[CLS]` position to mean "not in this passage" (SQuAD 1.1 has no
unanswerable questions): the question paired with another paragraph of the same article, and
the question with one of its names or numbers swapped for one the paragraph does not contain.
The held-out titles (a share `--dev-fraction`, chosen by a hash of the title) never reach
training; they choose the step to export and the thresholds downstream.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import pickle
import random
import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path("../shared/datasets/squad-v1.1-train.json.xz")
DEFAULT_WORK = Path.home() / ".cache" / "news-rag" / "reader-train"

# A name or a number in a question: the words a swap negative replaces. Training data only:
# the question's content words that, once changed, make the paragraph no longer answer it.
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)*\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")


@dataclass(frozen=True)
class Example:
    qid: str
    title: str
    question: str
    context: str
    answer_start: int  # -1: no answer in this context
    answer_text: str
    kind: str  # "answerable", "other-paragraph", "swapped"


def is_dev_title(title: str, fraction: float) -> bool:
    """A stable, seed-free choice of held-out titles: the hash of the title decides."""
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def load_examples(
    path: Path, dev_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """SQuAD answerable questions plus negatives, split into (train, dev) by title."""
    with lzma.open(path) as handle:
        data = json.load(handle)["data"]
    rng = random.Random(seed)
    all_names: list[str] = []  # each article's distinct names, in a stable order
    numbers: list[str] = []
    for article in data:
        found: set[str] = set()
        for paragraph in article["paragraphs"]:
            found.update(_NAME.findall(paragraph["context"]))
            numbers.extend(_NUMBER.findall(paragraph["context"])[:3])
        all_names.extend(sorted(found))
    train: list[Example] = []
    dev: list[Example] = []
    for article in data:
        title = article["title"]
        bucket = dev if is_dev_title(title, dev_fraction) else train
        paragraphs = article["paragraphs"]
        for p_index, paragraph in enumerate(paragraphs):
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                bucket.append(
                    Example(
                        qa["id"],
                        title,
                        qa["question"],
                        context,
                        answer["answer_start"],
                        answer["text"],
                        "answerable",
                    )
                )
                roll = rng.random()
                if roll < 0.25 and len(paragraphs) > 1:
                    other = rng.choice([i for i in range(len(paragraphs)) if i != p_index])
                    other_context = paragraphs[other]["context"]
                    if answer["text"] not in other_context:
                        bucket.append(
                            Example(
                                qa["id"] + "-o",
                                title,
                                qa["question"],
                                other_context,
                                -1,
                                "",
                                "other-paragraph",
                            )
                        )
                elif roll < 0.60:
                    swapped = _swap(qa["question"], context, all_names, numbers, rng)
                    if swapped is not None:
                        bucket.append(
                            Example(qa["id"] + "-s", title, swapped, context, -1, "", "swapped")
                        )
    return train, dev


def _swap(
    question: str, context: str, names: list[str], numbers: list[str], rng: random.Random
) -> str | None:
    """The question with one name or number that the context holds replaced by one it lacks."""
    spots = [
        (m, pool)
        for pattern, pool in ((_NAME, names), (_NUMBER, numbers))
        for m in pattern.finditer(question)
        if m.group(0) in context
    ]
    if not spots:
        return None
    match, pool = rng.choice(spots)
    for _ in range(20):
        replacement = rng.choice(pool)
        if replacement not in context and replacement != match.group(0):
            return question[: match.start()] + replacement + question[match.end() :]
    return None


@dataclass
class Feature:
    input_ids: array[int]
    question_tokens: int  # [CLS] question [SEP]: token_type_ids are 0 there, 1 after
    start: int
    end: int
    example: int  # index into the examples list
    # context character offsets per token (None: not context); kept for held-out features only
    offsets: list[tuple[int, int] | None] | None


def featurize(
    examples: list[Example], tokenizer: Any, max_length: int, stride: int, keep_offsets: bool
) -> list[Feature]:
    """HF-style sliding windows; a window without the whole answer is labelled [CLS] (0, 0)."""
    features: list[Feature] = []
    batch = 2048
    for lo in range(0, len(examples), batch):
        chunk = examples[lo : lo + batch]
        enc = tokenizer(
            [e.question for e in chunk],
            [e.context for e in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for i, input_ids in enumerate(enc["input_ids"]):
            example_index = lo + enc["overflow_to_sample_mapping"][i]
            example = examples[example_index]
            sequence_ids = enc.sequence_ids(i)
            offsets = [
                (int(a), int(b)) if sequence_ids[k] == 1 else None
                for k, (a, b) in enumerate(enc["offset_mapping"][i])
            ]
            start = end = 0
            if example.answer_start >= 0:
                a0 = example.answer_start
                a1 = a0 + len(example.answer_text)
                spans = [(k, o) for k, o in enumerate(offsets) if o is not None]
                if spans and spans[0][1][0] <= a0 and spans[-1][1][1] >= a1:
                    start = next(k for k, o in spans if o[1] > a0)
                    end = next(k for k, o in reversed(spans) if o[0] < a1)
            features.append(
                Feature(
                    array("H", input_ids),
                    sequence_ids.index(1),
                    start,
                    end,
                    example_index,
                    offsets if keep_offsets else None,
                )
            )
    return features


def length_grouped_batches(
    features: list[Feature], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Batches of similar length (less padding), in a random order of batches."""
    order = list(range(len(features)))
    rng.shuffle(order)
    # Sort within pools of 50 batches: similar lengths together, the order still random.
    pool = batch_size * 50
    batches: list[list[int]] = []
    for lo in range(0, len(order), pool):
        group = sorted(order[lo : lo + pool], key=lambda i: len(features[i].input_ids))
        batches.extend(group[k : k + batch_size] for k in range(0, len(group), batch_size))
    rng.shuffle(batches)
    return batches


def collate(features: list[Feature], indices: list[int]) -> dict[str, Any]:
    import torch

    width = max(len(features[i].input_ids) for i in indices)
    ids = torch.zeros((len(indices), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, i in enumerate(indices):
        f = features[i]
        n = len(f.input_ids)
        ids[row, :n] = torch.tensor(f.input_ids.tolist())
        types[row, f.question_tokens : n] = 1
        mask[row, :n] = 1
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "start_positions": torch.tensor([features[i].start for i in indices]),
        "end_positions": torch.tensor([features[i].end for i in indices]),
    }


# ---- held-out evaluation: SQuAD's F1 and exact match, and how well [CLS] separates negatives


def _normalize(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower())
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def span_f1(prediction: str, gold: str) -> float:
    p, g = _normalize(prediction).split(), _normalize(gold).split()
    common = sum(min(p.count(w), g.count(w)) for w in set(p) & set(g))
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def best_spans(
    start_logits: list[float],
    end_logits: list[float],
    offsets: list[tuple[int, int] | None],
    max_answer_tokens: int = 30,
    top: int = 20,
) -> tuple[float, int, int, float]:
    """Best (score, char_start, char_end) over context tokens, and the null score."""
    null = start_logits[0] + end_logits[0]
    context = [k for k, o in enumerate(offsets) if o is not None]
    starts = sorted(context, key=lambda k: -start_logits[k])[:top]
    ends = sorted(context, key=lambda k: -end_logits[k])[:top]
    best = (-math.inf, 0, 0)
    for s in starts:
        for e in ends:
            if s <= e < s + max_answer_tokens:
                score = start_logits[s] + end_logits[e]
                if score > best[0]:
                    best = (score, offsets[s][0], offsets[e][1])  # type: ignore[index]
    return best[0], best[1], best[2], null


def evaluate(
    model: Any,
    examples: list[Example],
    features: list[Feature],
    batch_size: int = 64,
    *,
    bf16: bool = False,
) -> dict[str, float]:
    """Answerable span F1/EM (best span over an example's windows) and the null-score AUC."""
    import torch

    def logits(batch: dict[str, Any]) -> tuple[list[list[float]], list[list[float]]]:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(
                input_ids=batch["input_ids"],
                token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"],
            )
        return out.start_logits.float().tolist(), out.end_logits.float().tolist()

    model.eval()
    scores = score_logits(logits, examples, features, batch_size)
    model.train()
    return scores


def score_logits(
    logits: Callable[[dict[str, Any]], tuple[list[list[float]], list[list[float]]]],
    examples: list[Example],
    features: list[Feature],
    batch_size: int = 64,
) -> dict[str, float]:
    """`evaluate` for any model: `logits` maps a `collate` batch to start and end logits
    (the export checks its ONNX files with it)."""
    per_example: dict[int, tuple[float, int, int, float]] = {}
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    for lo in range(0, len(order), batch_size):
        indices = order[lo : lo + batch_size]
        starts, ends = logits(collate(features, indices))
        for row, i in enumerate(indices):
            f = features[i]
            assert f.offsets is not None
            score, a, b, null = best_spans(starts[row], ends[row], f.offsets)
            seen = per_example.get(f.example)
            # One example's windows: its best span anywhere, its null the lowest window's.
            if seen is None:
                per_example[f.example] = (score, a, b, null)
            else:
                best = (score, a, b) if score > seen[0] else seen[:3]
                per_example[f.example] = (*best, min(null, seen[3]))
    f1s, ems, margins_pos, margins_neg = [], [], [], []
    for index, (score, a, b, null) in per_example.items():
        example = examples[index]
        margin = score - null
        if example.answer_start >= 0:
            prediction = example.context[a:b]
            f1s.append(span_f1(prediction, example.answer_text))
            ems.append(float(_normalize(prediction) == _normalize(example.answer_text)))
            margins_pos.append(margin)
        else:
            margins_neg.append(margin)
    return {
        "f1": 100 * sum(f1s) / max(1, len(f1s)),
        "em": 100 * sum(ems) / max(1, len(ems)),
        "null_auc": _auc(margins_pos, margins_neg),
        "answerable": float(len(f1s)),
        "negatives": float(len(margins_neg)),
    }


def _auc(positives: list[float], negatives: list[float]) -> float:
    """P(a random answerable margin beats a random negative's): the rank-sum statistic."""
    if not positives or not negatives:
        return float("nan")
    ranked = sorted([(m, 1) for m in positives] + [(m, 0) for m in negatives])
    rank_sum = sum(rank for rank, (_, label) in enumerate(ranked, 1) if label == 1)
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


# ---- the run


def _bf16_is_faster() -> bool:
    """Whether bf16 matrix products beat fp32 here. With AMX (recent Xeons) bf16 is ~3x
    faster; without it (measured on an AMD EPYC of this workplace, 2026-12-07) bf16 ran at
    1 GFLOP/s against 114 for fp32, and a training step took 35-60 s instead of ~1 s."""
    import torch

    a = torch.randn(512, 512)
    timings = []
    for dtype in (torch.float32, torch.bfloat16):
        x = a.to(dtype)
        x @ x  # warm-up
        started = time.perf_counter()
        for _ in range(3):
            x @ x
        timings.append(time.perf_counter() - started)
    return timings[1] < timings[0]


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def sample_dev(examples: list[Example], n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    chosen = list(examples)
    rng.shuffle(chosen)
    return chosen[:n]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--base", type=Path, required=True, help="folder of the base BERT")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--run", default="run1", help="run name: its folder under --work")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=float, default=0.06)
    parser.add_argument(
        "--max-features",
        type=int,
        default=0,
        help="features to train on (0: one epoch); sets the LR schedule",
    )
    parser.add_argument(
        "--dev-fraction", type=float, default=0.045, help="share of titles held out (≈20 of 442)"
    )
    parser.add_argument("--dev-examples", type=int, default=1500)
    parser.add_argument("--eval-minutes", type=float, default=20.0)
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto: bf16 only where this CPU multiplies bf16 faster (AMX)",
    )
    args = parser.parse_args(argv)

    import torch
    from transformers import BertForQuestionAnswering, BertTokenizerFast
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and _bf16_is_faster())
    run_dir = args.work / args.run
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.jsonl"
    (run_dir / "args.json").write_text(json.dumps(vars(args), default=str, indent=1))

    tokenizer = BertTokenizerFast.from_pretrained(str(args.base))
    train_examples, dev_examples = load_examples(args.data, args.dev_fraction, args.seed)
    dev_titles = sorted({e.title for e in dev_examples})
    (run_dir / "dev_titles.json").write_text(json.dumps(dev_titles, indent=1))
    dev_sample = sample_dev(dev_examples, args.dev_examples, args.seed)
    started = time.monotonic()
    # Featurising takes minutes: cached beside the runs, keyed by what decides the features.
    key = f"{args.max_length}-{args.stride}-{args.dev_fraction}-{args.dev_examples}-{args.seed}"
    cache = args.work / f"features-{key}.pkl"
    if cache.exists():
        dev_features, train_features = pickle.loads(cache.read_bytes())
    else:
        dev_features = featurize(dev_sample, tokenizer, args.max_length, args.stride, True)
        train_features = featurize(train_examples, tokenizer, args.max_length, args.stride, False)
        cache.write_bytes(pickle.dumps((dev_features, train_features)))
    kinds: dict[str, int] = {}
    for e in train_examples:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    _log(
        log_path,
        {
            "event": "data",
            "bf16": bf16,
            "train_examples": len(train_examples),
            "train_features": len(train_features),
            "dev_titles": len(dev_titles),
            "dev_examples": len(dev_examples),
            "kinds": kinds,
            "featurize_s": round(time.monotonic() - started, 1),
        },
    )

    budget = args.max_features or len(train_features)
    total_steps = math.ceil(budget / args.batch_size)
    model = BertForQuestionAnswering.from_pretrained(str(args.base))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(args.warmup * total_steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return float(max(0.0, (total_steps - step) / max(1, total_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step = 0
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        _log(log_path, {"event": "resume", "step": step})

    def batches() -> Iterator[list[int]]:
        epoch = 0
        while True:
            yield from length_grouped_batches(
                train_features, args.batch_size, random.Random(args.seed + epoch)
            )
            epoch += 1

    def save() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
            },
            tmp,
        )
        tmp.replace(checkpoint)

    def held_out(label: str) -> dict[str, float]:
        scores = evaluate(model, dev_sample, dev_features, bf16=bf16)
        _log(log_path, {"event": "eval", "label": label, "step": step, **scores})
        return scores

    model.train()
    stream = batches()
    for _ in range(step):  # skip what the checkpoint already trained on (same seeded order)
        next(stream)
    last_save = last_eval = window_start = time.monotonic()
    window_features = 0
    loss_sum = 0.0
    while step < total_steps:
        indices = next(stream)
        batch = collate(train_features, indices)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_features += len(indices)
        loss_sum += float(loss.detach())
        if step % 50 == 0:
            elapsed = time.monotonic() - window_start
            _log(
                log_path,
                {
                    "event": "train",
                    "step": step,
                    "of": total_steps,
                    "loss": round(loss_sum / 50, 4),
                    "features_per_s": round(window_features / elapsed, 2),
                    "lr": scheduler.get_last_lr()[0],
                },
            )
            window_start, window_features, loss_sum = time.monotonic(), 0, 0.0
        now = time.monotonic()
        if now - last_save > args.checkpoint_minutes * 60:
            save()
            last_save = now
        if now - last_eval > args.eval_minutes * 60:
            held_out("periodic")
            last_eval = time.monotonic()
    save()
    held_out("final")
    model.save_pretrained(str(run_dir / "final"))
    tokenizer.save_pretrained(str(run_dir / "final"))


if __name__ == "__main__":
    main()
