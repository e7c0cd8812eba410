"""Seeded synthetic subscriber table for the ``churn`` task.

No real churn data set installs offline, so the built-in data of the ``churn``
task is simulated: one row per customer of a telecom operator on a snapshot
date, labelled 1 when the customer cancelled within the following three
months. The story:

1. **Tenure and contract.** About a third of the customers signed up
   recently (a geometric tenure, mean about 8 months); the rest are spread over
   six years. Longer customers more often hold a one- or two-year contract.
2. **Services and price.** Internet service is fiber optic, DSL or none; the
   internet customers take 0-4 add-ons (security, backup, tech support,
   streaming). The monthly charge is the plan's list price (internet service
   plus add-ons, two-year contracts 5 % off) plus a little noise, except for
   about 15 % of the customers whose promotional price ended or who got a
   price rise: they pay 8-25 more than their plan's list price, and more
   than they used to. The total charge is the tenure times the usual past
   charge (before any rise), a little lower than the list price.
3. **Service trouble.** About 20 % of the customers have a recurring
   problem; they call support more often (calls in the last 90 days are
   Poisson) and are less satisfied. The satisfaction survey (1-5) is
   answered by about two customers in three, less often by month-to-month
   ones.
4. **Churn** follows a logistic model of these, non-linear and with
   interactions: month-to-month contracts churn most; risk falls steeply in
   the first months of tenure; contract customers become likely to leave in
   the last months before a renewal; support calls matter above a threshold
   (about four calls), fiber customers with calls even more; paying above the
   plan's list price matters, so the signal is the charge *relative to* the
   internet service and add-ons; electronic checks churn more and automatic
   payments less; add-ons make customers stay; the true dissatisfaction
   matters even where the survey was not answered. A customer-level random
   effect and the Bernoulli draw of the label add noise. The intercept is
   solved so that the expected churn rate is ``churn_rate`` exactly.

Columns (:data:`FEATURE_COLUMNS`): ``tenure_months`` (0-72),
``contract`` (:data:`CONTRACTS`), ``monthly_charges``, ``total_charges``
(missing for customers not billed yet, tenure 0, and for about 1 % billing
gaps), ``internet_service`` (:data:`INTERNET_SERVICES`),
``add_on_services`` (0-4), ``support_calls_90d``, ``payment_method``
(:data:`PAYMENT_METHODS`), ``paperless_billing`` (0/1), ``senior_citizen``
(0/1), ``satisfaction_score`` (1-5, missing where the survey was not
answered), then the target ``churned`` (0/1).

Everything is vectorised with numpy: 5,000 rows take a few milliseconds.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORICAL_COLUMNS",
    "CONTRACTS",
    "DEFAULT_CHURN_RATE",
    "DEFAULT_ROWS",
    "FEATURE_COLUMNS",
    "INTERNET_SERVICES",
    "PAYMENT_METHODS",
    "TARGET_COLUMN",
    "generate_customers",
]

#: Name of the 0/1 target column.
TARGET_COLUMN = "churned"
#: Customers in the built-in data.
DEFAULT_ROWS = 5_000
#: Expected share of churners in the built-in data.
DEFAULT_CHURN_RATE = 0.2
#: Bounds of ``churn_rate`` and the least ``n_rows`` :func:`generate_customers` accepts.
_MIN_CHURN_RATE, _MAX_CHURN_RATE = 0.02, 0.5
_MIN_ROWS = 100

#: Values of the ``contract`` column, shortest first.
CONTRACTS: tuple[str, ...] = ("month-to-month", "one year", "two year")
_MONTHLY, _ONE_YEAR, _TWO_YEAR = range(3)
#: Values of the ``internet_service`` column.
INTERNET_SERVICES: tuple[str, ...] = ("fiber optic", "dsl", "none")
_FIBER, _DSL, _NO_INTERNET = range(3)
_INTERNET_P = np.array([0.44, 0.34, 0.22])
_INTERNET_PRICE = np.array([75.0, 50.0, 22.0])  # list price per month, phone line included
_ADD_ON_PRICE = 9.0
#: Values of the ``payment_method`` column; the last two are automatic payments.
PAYMENT_METHODS: tuple[str, ...] = ("electronic check", "mailed check", "bank transfer", "credit card")
_E_CHECK, _MAILED, _BANK, _CARD = range(4)

#: Feature columns of the returned frame, in order (the target comes after them).
FEATURE_COLUMNS: tuple[str, ...] = (
    "tenure_months",
    "contract",
    "monthly_charges",
    "total_charges",
    "internet_service",
    "add_on_services",
    "support_calls_90d",
    "payment_method",
    "paperless_billing",
    "senior_citizen",
    "satisfaction_score",
)
#: The feature columns that hold strings (the others are numbers).
CATEGORICAL_COLUMNS: tuple[str, ...] = ("contract", "internet_service", "payment_method")

_MAX_TENURE = 72
_Rows = dict[str, np.ndarray]


def generate_customers(
    *, n_rows: int = DEFAULT_ROWS, churn_rate: float = DEFAULT_CHURN_RATE, seed: int = 0
) -> pd.DataFrame:
    """Generates a seeded table of subscribers and whether they churned.

    Args:
        n_rows: Customers (rows), at least 100.
        churn_rate: Expected share of churners, in ``[0.02, 0.5]``; the drawn
            share differs by sampling noise only (about 0.006 at 5,000 rows).
        seed: Seed of the random generator (0 or more); the same seed gives
            the same table.

    Returns:
        :data:`FEATURE_COLUMNS` then :data:`TARGET_COLUMN`, one row per
        customer, with a ``RangeIndex``.

    Raises:
        ValueError: An argument is out of range.
    """
    _check_arguments(n_rows=n_rows, churn_rate=churn_rate, seed=seed)
    rng = np.random.default_rng(seed)
    customers = _draw_customers(rng, n_rows)
    customers.update(_draw_billing(rng, customers))
    customers.update(_draw_service_experience(rng, customers))
    logit = _churn_logit(rng, customers)
    probability = _sigmoid(logit + _intercept_for_rate(logit, churn_rate))
    churned = (rng.random(n_rows) < probability).astype(np.int64)
    return _to_frame(customers, churned)


def _check_arguments(*, n_rows: int, churn_rate: float, seed: int) -> None:
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < _MIN_ROWS:
        raise ValueError(
            f"n_rows must be a whole number of at least {_MIN_ROWS} customers, but got {n_rows=!r}; "
            f"pass e.g. n_rows={DEFAULT_ROWS}."
        )
    if (
        isinstance(churn_rate, bool)
        or not isinstance(churn_rate, numbers.Real)
        or not (_MIN_CHURN_RATE <= churn_rate <= _MAX_CHURN_RATE)
    ):
        raise ValueError(
            f"churn_rate must be a number in [{_MIN_CHURN_RATE}, {_MAX_CHURN_RATE}], but got {churn_rate=!r}; "
            f"pass e.g. churn_rate={DEFAULT_CHURN_RATE}."
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a whole number, 0 or more, but got {seed=!r}; pass e.g. seed=0.")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _gumbel_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """Draws one category per row with probabilities ``softmax(logits)`` (the Gumbel-max trick).

    Args:
        rng: Random generator.
        logits: ``(n, k)`` unnormalised log-probabilities.

    Returns:
        ``(n,)`` int array of category indices in ``[0, k)``.
    """
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _draw_customers(rng: np.random.Generator, n: int) -> _Rows:
    """Tenure, contract, internet service, add-ons and the customer's profile."""
    recent = rng.random(n) < 0.35
    tenure = np.where(recent, rng.geometric(1.0 / 8.0, n) - 1, rng.integers(1, _MAX_TENURE + 1, n))
    tenure = np.minimum(tenure, _MAX_TENURE)
    years = tenure / 12.0
    contract = _gumbel_choice(
        rng, np.stack([np.full(n, 1.2), -0.6 + 0.35 * years, -1.6 + 0.6 * years], axis=1)
    )
    senior = rng.random(n) < 0.16
    internet = rng.choice(len(INTERNET_SERVICES), size=n, p=_INTERNET_P)
    add_on_p = np.clip(0.22 + 0.1 * contract + 0.003 * tenure, 0.0, 0.9)
    add_ons = np.where(internet == _NO_INTERNET, 0, rng.binomial(4, add_on_p))
    paperless = rng.random(n) < np.where(senior, 0.45, 0.62)
    return {
        "tenure": tenure.astype(np.int64),
        "contract": contract,
        "senior": senior,
        "internet": internet,
        "add_ons": add_ons.astype(np.int64),
        "paperless": paperless,
    }


def _draw_billing(rng: np.random.Generator, c: _Rows) -> _Rows:
    """Payment method, list price, price rises, monthly and total charges."""
    n = c["tenure"].shape[0]
    monthly_contract = c["contract"] == _MONTHLY
    automatic = 0.35 * c["contract"] + 0.01 * c["tenure"]
    payment = _gumbel_choice(
        rng,
        np.stack(
            [
                0.9 * monthly_contract + 0.5 * c["paperless"],
                0.2 + 0.7 * c["senior"] - 0.6 * c["paperless"],
                automatic,
                automatic,
            ],
            axis=1,
        ),
    )
    list_price = _INTERNET_PRICE[c["internet"]] + _ADD_ON_PRICE * c["add_ons"]
    list_price = list_price * np.where(c["contract"] == _TWO_YEAR, 0.95, 1.0)
    price_rise = rng.random(n) < 0.15
    rise = np.where(price_rise, rng.uniform(8.0, 25.0, n), 0.0)
    usual = list_price + rng.normal(0.0, 2.5, n)
    monthly = np.round(np.maximum(usual + rise, 15.0), 2)
    # The rise is recent: earlier bills were the usual charge, a little lower still (promotions, fewer add-ons).
    total = np.round(c["tenure"] * np.maximum(usual, 15.0) * rng.uniform(0.88, 1.02, n), 2)
    not_billed_yet = c["tenure"] == 0
    billing_gap = rng.random(n) < 0.01
    total = np.where(not_billed_yet | billing_gap, np.nan, total)
    return {
        "payment": payment,
        "list_price": list_price,
        "monthly": monthly,
        "total": total,
    }


def _draw_service_experience(rng: np.random.Generator, c: _Rows) -> _Rows:
    """Recurring trouble, support calls and the satisfaction survey."""
    n = c["tenure"].shape[0]
    trouble = rng.random(n) < 0.2
    fiber = c["internet"] == _FIBER
    calls = rng.poisson(0.5 + 2.8 * trouble + 0.4 * c["senior"] + 0.3 * fiber)
    overpaid = np.clip(c["monthly"] - c["list_price"], 0.0, None)
    dissatisfaction = 0.9 * trouble + 0.03 * overpaid + rng.normal(0.0, 0.6, n)
    score = np.clip(np.round(3.9 - dissatisfaction), 1, 5).astype(np.float64)
    answered = rng.random(n) < np.where(c["contract"] == _MONTHLY, 0.58, 0.72)
    return {
        "calls": calls.astype(np.int64),
        "dissatisfaction": dissatisfaction,
        "answered": answered,
        "score": np.where(answered, score, np.nan),
    }


def _churn_logit(rng: np.random.Generator, c: _Rows) -> np.ndarray:
    """Each customer's log-odds of churning, before the intercept."""
    tenure, contract, calls = c["tenure"], c["contract"], c["calls"]
    fiber = c["internet"] == _FIBER
    month_in_year = tenure % 12
    renewal_due = ((contract == _ONE_YEAR) & (month_in_year >= 10)) | (
        (contract == _TWO_YEAR) & (tenure % 24 >= 21)
    )
    overpaid = np.clip(c["monthly"] - c["list_price"], 0.0, 30.0)
    free_to_leave = (contract == _MONTHLY) | renewal_due
    logit = np.array([0.9, -0.6, -1.8])[contract]
    logit = logit + 1.6 * np.exp(-tenure / 6.0)
    logit = logit + 1.6 * renewal_due
    logit = logit + 2.2 * _sigmoid(2.5 * (calls - 3.5)) * np.where(fiber, 1.5, 1.0)
    # A price rise drives out the customers free to leave; the others wait.
    logit = logit + overpaid * np.where(free_to_leave, 0.12, 0.02)
    logit = logit + np.array([0.5, 0.0, -0.35, -0.35])[c["payment"]]
    logit = logit + 0.3 * c["senior"] + 0.2 * c["paperless"]
    logit = logit - 0.3 * c["add_ons"] + 0.5 * (fiber & (contract == _MONTHLY) & (c["add_ons"] == 0))
    logit = logit + 0.7 * c["dissatisfaction"]
    return logit + rng.normal(0.0, 0.5, tenure.shape[0])


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """The intercept ``b`` with ``mean(sigmoid(logit + b)) == rate`` (bisection; the mean rises with ``b``)."""
    low, high = -30.0, 30.0
    for _ in range(80):
        middle = 0.5 * (low + high)
        if _sigmoid(logit + middle).mean() < rate:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _to_frame(c: _Rows, churned: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "tenure_months": c["tenure"],
            "contract": np.asarray(CONTRACTS, dtype=object)[c["contract"]],
            "monthly_charges": c["monthly"],
            "total_charges": c["total"],
            "internet_service": np.asarray(INTERNET_SERVICES, dtype=object)[c["internet"]],
            "add_on_services": c["add_ons"],
            "support_calls_90d": c["calls"],
            "payment_method": np.asarray(PAYMENT_METHODS, dtype=object)[c["payment"]],
            "paperless_billing": c["paperless"].astype(np.int64),
            "senior_citizen": c["senior"].astype(np.int64),
            "satisfaction_score": c["score"],
            TARGET_COLUMN: churned,
        }
    )
    for name in CATEGORICAL_COLUMNS:
        frame[name] = frame[name].astype(str)
    return frame
