#!/usr/bin/env python3
"""The practitioner's reference for the transfer experiment: gradient-boosted trees on per-pixel terrain + weather.

Reads the tables `avarisk experiment` exports into DIR (source.csv, pool.csv, test.csv: one row per labelled pixel,
the model's input channels, `label`, and `event` for the target tables; subsets.json: the N-event subsets drawn for
each seed, the same the networks train on) and fits scikit-learn's HistGradientBoostingClassifier:
  - zero-shot: trained on the source site only,
  - target-only: trained on the target's N events only,
  - pooled: trained on the source and the target's N events together,
then writes their probabilities on the test pixels (the order of test.csv) to DIR/predictions.json.

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
    cols = {name: i for i, name in enumerate(header)}
    features = [i for name, i in cols.items() if name not in ("label", "event")]
    x = data[:, features]
    y = data[:, cols["label"]].astype(int)
    event = data[:, cols["event"]].astype(int) if "event" in cols else None
    return x, y, event


def fit_predict(x, y, test_x, seed):
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, class_weight="balanced", random_state=seed)
    model.fit(x, y)
    return model.predict_proba(test_x)[:, 1].astype(float).round(6).tolist()


def main():
    d = Path(sys.argv[1])
    sx, sy, _ = load(d / "source.csv")
    px, py, pevent = load(d / "pool.csv")
    tx, _, _ = load(d / "test.csv")
    subsets = json.loads((d / "subsets.json").read_text())
    out = {"zero-shot": fit_predict(sx, sy, tx, 0), "target-only": {}, "pooled": {}}
    for n, by_seed in subsets.items():
        out["target-only"][n], out["pooled"][n] = {}, {}
        for seed, events in by_seed.items():
            keep = np.isin(pevent, np.array(events, dtype=int))
            x, y = px[keep], py[keep]
            if len(np.unique(y)) < 2:
                continue
            out["target-only"][n][seed] = fit_predict(x, y, tx, int(seed))
            out["pooled"][n][seed] = fit_predict(np.vstack([sx, x]), np.concatenate([sy, y]), tx, int(seed))
    (d / "predictions.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
