"""Time and memory of the recommendation task's full-catalogue top-K scoring.

Every user of the recommendation task is ranked against the whole catalogue
(no sampled negatives), block by block of users, with the user's training
items excluded: the plugin's ``top_k`` with ``block_rows``. This times it
with a matrix-factorisation-like scorer (random ``--dim``-dimensional user
and item factors, a block's scores ``user_factors[block] @ item_factors.T``)
and about ``--history`` random training items per user to exclude (a CSR
matrix), for each size (users x items) and block budget named.

Each case runs in a fresh Python process, so that its memory is its own. The
table shows the rows per block (``block_rows(n_items, budget=...)``), the
seconds of ``top_k`` alone (inputs built beforehand), users per second, the
process's peak resident memory increase during ``top_k`` (Linux: the peak is
reset through ``/proc/self/clear_refs`` before it starts and read from
``VmHWM``; elsewhere how far ``top_k`` raises ``resource.getrusage``'s
lifetime peak, a lower bound) and the bound the block size promises: rows per
block (at most the users) x items x 4 bytes (one block's float32 scores;
``top_k``'s own temporaries are small beside it), and their ratio: a ratio near 2 means two
blocks' scores are alive at once (the previous block's, still bound in
``top_k``'s loop while the next one is computed). The peak also holds the
output lists (12 x K bytes per user) and what the C allocator keeps after a
block is freed: glibc serves blocks under its (growing) mmap threshold, up to
32 MiB, from arenas it does not hand back at once, so small budgets show
peaks well above two blocks; ``MALLOC_MMAP_THRESHOLD_=1048576`` in the
environment shows the live memory alone. A handful of users' lists are
checked against a plain full sort.

Usage::

    .venv/bin/python benchmarks/rec_scoring.py [--sizes 10000x5000 100000x50000] [--budgets-mib 64 16]
        [--k 10] [--dim 64] [--history 20] [--seed 0]

The defaults take about a minute or two on 2 cores. Not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MIB = 2**20


def _rss_kib(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` of this process in KiB, from ``/proc/self/status`` (Linux); else ``None``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Resets the process's peak resident memory (``VmHWM``) to its current size; ``False`` where
    that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return _rss_kib("VmHWM") is not None


def _lifetime_peak_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def run_case(*, users: int, items: int, budget_mib: float, k: int, dim: int, history: int, seed: int) -> dict:
    """One size and block budget: builds the factors and the exclusions, then times ``top_k`` over
    every user."""
    import scipy.sparse as sp
    import torch
    from fg_automl_recommendation._metrics import block_rows, top_k

    generator = torch.Generator().manual_seed(seed)
    user_factors = torch.randn(users, dim, generator=generator) / dim**0.5
    item_factors_t = (torch.randn(items, dim, generator=generator) / dim**0.5).T.contiguous()
    rng = np.random.default_rng(seed)
    per_user = min(history, items - 1)
    exclude = sp.csr_matrix(
        (np.ones(users * per_user, dtype=np.float32), rng.integers(0, items, size=users * per_user),
         np.arange(0, users * per_user + 1, per_user, dtype=np.int64)),
        shape=(users, items),
    )
    exclude.sum_duplicates()

    def scores_for(block: np.ndarray) -> torch.Tensor:
        return user_factors[torch.from_numpy(block)] @ item_factors_t

    rows = block_rows(items, bytes_per_score=4, budget=int(budget_mib * MIB))
    all_users = np.arange(users, dtype=np.int64)
    exact = _reset_peak()
    before = _rss_kib("VmRSS") if exact else _lifetime_peak_kib()
    started = time.perf_counter()
    chosen, _ = top_k(scores_for, all_users, exclude=exclude, k=k, rows_per_block=rows)
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM") if exact else _lifetime_peak_kib()
    _check(chosen, scores_for, exclude, k=k, users=rng.choice(users, size=min(5, users), replace=False))
    return {
        "users": users, "items": items, "budget_mib": budget_mib, "rows_per_block": rows,
        "blocks": -(-users // rows), "threads": torch.get_num_threads(), "seconds": seconds,
        "peak_mib": max(0, peak - before) / 1024, "peak_exact": exact,
        "bound_mib": min(rows, users) * items * 4 / MIB,
    }


def _check(chosen: np.ndarray, scores_for, exclude, *, k: int, users: np.ndarray) -> None:
    """The lists of ``users`` are the ``k`` best of a plain full sort without their excluded items."""
    scores = scores_for(np.sort(users)).numpy().copy()
    for row, user in enumerate(np.sort(users)):
        scores[row, exclude[user].indices] = -np.inf
        expected = np.argsort(-scores[row], kind="stable")[:k]
        if set(expected.tolist()) != set(chosen[user].tolist()):
            raise RuntimeError(f"top_k's list of user {user} is {chosen[user].tolist()}, but a full sort "
                               f"gives {expected.tolist()}.")


def _size(text: str) -> tuple[int, int]:
    try:
        users, items = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a size is USERSxITEMS, such as 100000x50000, but got {text!r}"
        ) from None
    if users < 1 or items < 2:
        raise argparse.ArgumentTypeError(f"a size needs at least 1 user and 2 items, but got {text!r}")
    return users, items


def _table(results: list[dict], *, k: int, dim: int, history: int):
    from rich.table import Table

    table = Table(
        title=f"Full-catalogue top-{k} scoring (plugin's top_k + block_rows), {dim}-dim factor scorer, "
        f"~{history} training items excluded per user",
        caption="peak: the process's peak resident memory increase during top_k ('>=': a lower bound, "
        "no peak reset here); bound: rows per block x items x 4 bytes.",
    )
    for column in ("users", "items", "budget MiB", "rows/block", "blocks", "threads", "seconds", "users/s",
                   "peak MiB", "bound MiB", "peak/bound"):
        table.add_column(column, justify="right")
    for r in results:
        peak = f"{r['peak_mib']:.0f}" if r["peak_exact"] else f">= {r['peak_mib']:.0f}"
        table.add_row(f"{r['users']:,}", f"{r['items']:,}", f"{r['budget_mib']:g}",
                      f"{r['rows_per_block']:,}", f"{r['blocks']:,}", str(r["threads"]),
                      f"{r['seconds']:.2f}", f"{r['users'] / r['seconds']:,.0f}", peak,
                      f"{r['bound_mib']:.0f}", f"{r['peak_mib'] / r['bound_mib']:.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_size, nargs="+", default=[(10_000, 5_000), (100_000, 50_000)],
                        metavar="USERSxITEMS", help="Users x items of each case.")
    parser.add_argument("--budgets-mib", type=float, nargs="+", default=[64.0, 16.0], metavar="MIB",
                        help="Block budgets (MiB of one block's scores); 64 is the task's BLOCK_BYTES.")
    parser.add_argument("--k", type=int, default=10, help="List length K.")
    parser.add_argument("--dim", type=int, default=64, help="Dimensions of the user and item factors.")
    parser.add_argument("--history", type=int, default=20, help="Random training items excluded per user.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", type=str, default=None, help=argparse.SUPPRESS)  # one case, in a child
    args = parser.parse_args()
    for name in ("k", "dim", "history"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, but got {getattr(args, name)}.")
    if any(budget <= 0 for budget in args.budgets_mib):
        parser.error(f"--budgets-mib must be positive, but got {args.budgets_mib}.")
    if args.case is not None:
        case = json.loads(args.case)
        print(json.dumps(run_case(**case, k=args.k, dim=args.dim, history=args.history, seed=args.seed)))
        return

    from rich.console import Console

    console = Console(width=160)
    results = []
    for users, items in args.sizes:
        for budget in args.budgets_mib:
            case = json.dumps({"users": users, "items": items, "budget_mib": budget})
            command = [sys.executable, str(Path(__file__).resolve()), "--case", case, "--k", str(args.k),
                       "--dim", str(args.dim), "--history", str(args.history), "--seed", str(args.seed)]
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"case {case} failed:\n{done.stderr}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            console.print(f"{users:,} users x {items:,} items, {budget:g} MiB blocks "
                          f"({r['rows_per_block']} rows): {r['seconds']:.2f} s, "
                          f"peak +{r['peak_mib']:.0f} MiB (bound {r['bound_mib']:.0f} MiB)")
    console.print(_table(results, k=args.k, dim=args.dim, history=args.history))


if __name__ == "__main__":
    main()
