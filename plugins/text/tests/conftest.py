"""Shared fixtures of the text plugin's tests; quiet, loopback-only Ray."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def sms() -> pd.DataFrame:
    """The bundled SMS Spam Collection as a frame (``label``, ``text``)."""
    from fg_automl_text import TEXT_FEATURE, TextTask

    data = TextTask().load_default(seed=0)
    classes = data.info["classes"]
    return pd.DataFrame({"label": [classes[c] for c in data.target], "text": data.features[TEXT_FEATURE]})


@pytest.fixture(scope="session")
def small_sms(sms: pd.DataFrame) -> pd.DataFrame:
    """300 messages, 200 ham and 100 spam, shuffled with a fixed seed."""
    ham = sms[sms["label"] == "ham"].sample(200, random_state=0)
    spam = sms[sms["label"] == "spam"].sample(100, random_state=0)
    return pd.concat([ham, spam]).sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="session")
def three_class(sms: pd.DataFrame) -> pd.DataFrame:
    """240 rows of three classes: spam, ham questions (``?``) and other ham."""
    ham = sms[sms["label"] == "ham"]
    question = ham[ham["text"].str.contains("?", regex=False)].sample(80, random_state=0)
    other = ham[~ham["text"].str.contains("?", regex=False)].sample(80, random_state=0)
    spam = sms[sms["label"] == "spam"].sample(80, random_state=0)
    frame = pd.concat(
        [spam.assign(label="spam"), question.assign(label="question"), other.assign(label="other")]
    )
    return frame.sample(frac=1.0, random_state=2).reset_index(drop=True)
