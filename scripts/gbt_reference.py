#!/usr/bin/env python3
"""The practitioner's reference for the transfer experiment: gradient-boosted trees on the per-pixel terrain channels.

Reads the tables `avarisk experiment` exports into DIR (one row per pixel: the input channels and `label`):
  source.csv              the source site's training pixels (every positive, a thinned share of the negatives),
  subsets/<N>/<seed>.csv  the target's training pixels with only the N events drawn for that seed as positives
                          (the same events the networks train on),
  test.csv                the map's scored cells (held-back events and their controls), in the order of the report,
and fits scikit-learn's HistGradientBoostingClassifier:
  - zero-shot: trained on the source site only,
  - target-only: trained on the target's N events only,
  - pooled: trained on the source and the target's N events together,
then writes their probabilities on the test cells to DIR/predictions.json.

usage: scripts/gbt_reference.py DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)
    data = data.reshape(-1, len(header))
    label = header.index("label")
    features = [i for i, name in enumerate(header) if name != "label"]
    return data[:, features], data[:, label].astype(int)


def fit_predict(x, y, test_x, seed):
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, class_weight="balanced", random_state=seed)
    model.fit(x, y)
    return model.predict_proba(test_x)[:, 1].astype(float).round(6).tolist()


def main():
    d = Path(sys.argv[1])
    sx, sy = load(d / "source.csv")
    tx, _ = load(d / "test.csv")
    out = {"zero-shot": fit_predict(sx, sy, tx, 0), "target-only": {}, "pooled": {}}
    for n_dir in sorted((d / "subsets").iterdir(), key=lambda p: int(p.name)):
        n = n_dir.name
        out["target-only"][n], out["pooled"][n] = {}, {}
        for table in sorted(n_dir.glob("*.csv")):
            seed = table.stem
            x, y = load(table)
            if len(np.unique(y)) < 2:
                continue
            out["target-only"][n][seed] = fit_predict(x, y, tx, int(seed))
            out["pooled"][n][seed] = fit_predict(np.vstack([sx, x]), np.concatenate([sy, y]), tx, int(seed))
    (d / "predictions.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
