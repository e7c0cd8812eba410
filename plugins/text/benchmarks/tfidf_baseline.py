"""TF-IDF + logistic regression on the text task's test split, for comparison with the search.

The split is the search's own: ``make_splits(data, n_folds=5, test_fraction=0.2,
seed=0)``, so the 1,115 test messages are the ones the refit winner of
``fg-automl search --task text`` is scored on. The regularisation strength C is
chosen by macro F1 over the search's 5 folds of the development rows; the test
rows are scored once.

Usage: ``python plugins/text/benchmarks/tfidf_baseline.py [--seed 0] [--data FILE]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from fg_automl_text import TEXT_FEATURE, TextTask
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from finegrain_automl import DataSource
from finegrain_automl.cv import make_splits

VECTORIZERS = {
    "word 1-2 grams": dict(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
    "char 2-5 grams": dict(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True),
}
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", type=Path, default=None, help="a CSV or JSONL file; default: the bundled SMS data"
    )
    args = parser.parse_args()
    task = TextTask()
    data = (
        task.load_default(seed=args.seed) if args.data is None else task.read_file(DataSource(path=args.data))
    )
    splits = make_splits(data, n_folds=5, test_fraction=0.2, seed=args.seed)
    texts = data.features[TEXT_FEATURE].to_numpy()
    y = np.asarray(data.target)
    # Folds index the full data set; GridSearchCV needs positions within the development rows.
    position = {row: i for i, row in enumerate(splits.development)}
    folds = [([position[r] for r in train], [position[r] for r in valid]) for train, valid in splits.folds]
    dev, test = splits.development, splits.test
    print(f"{len(data)} rows: {len(dev)} development, {len(test)} test (seed {args.seed})")
    for name, options in VECTORIZERS.items():
        started = time.perf_counter()
        pipeline = make_pipeline(TfidfVectorizer(**options), LogisticRegression(max_iter=2000))
        search = GridSearchCV(pipeline, {"logisticregression__C": C_GRID}, scoring="f1_macro", cv=folds)
        search.fit(texts[dev], y[dev])
        predicted = search.predict(texts[test])
        test_f1 = f1_score(y[test], predicted, average="macro")
        print(
            f"TF-IDF ({name}) + logistic regression: C={search.best_params_['logisticregression__C']:g}, "
            f"CV macro F1 {search.best_score_:.4f}, test macro F1 {test_f1:.4f}, "
            f"test accuracy {accuracy_score(y[test], predicted):.4f} ({time.perf_counter() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
