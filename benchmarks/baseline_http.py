"""This code against an earlier commit over HTTP, paired: did a change make the form slower?

The earlier commit (`--baseline`) is checked out into a temporary git worktree, and two
`mandat serve` processes run side by side on the intake benchmark's database (reused when seeded
with the same sizes, `benchmarks/intake.py`): one from that tree, one from this one, both with
the same settings. One client sends both the same shuffled mix — the floor `GET /healthz`, step 1
and step 2 of the form — request by request, alternating which goes first
(`benchmarks/limiter_http.py`'s pairing), so that both see the same moments of a noisy machine.
The figures are each side's median, the difference of the medians and the median of the paired
differences. Both commits must run on the same database schema (a baseline from before a
migration this code needs is refused by its own /readyz, and the script stops).

Run: .venv/bin/python benchmarks/baseline_http.py --baseline <commit> [--pairs 400]
     [--warmup 100] [--agencies 5000] [--property-sales 100000] [--workers 1]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import intake
from harness import ROOT, plain, server
from limiter_http import intake_database, jobs_for, paired, paired_arguments

from engine.db import get_engine

LOG = Path(__file__).resolve().parent / "results" / "baseline-http-{name}.log"


def main() -> None:
    parser = paired_arguments((__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the earlier commit")
    args = parser.parse_args()
    load = {"start": os.getloadavg()}
    url = intake_database(args)
    rng = np.random.default_rng(args.seed + 11)
    env = {"MANDAT_TRUSTED_PROXIES": "127.0.0.1"}
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        tree = Path(scratch) / "baseline"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "-q", "--detach", str(tree), args.baseline],
                       check=True)  # fmt: skip
        stack.callback(subprocess.run, [*git, "worktree", "remove", "--force", str(tree)])
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
        bases = {
            "baseline": stack.enter_context(
                server(
                    plain(url), args.workers, Path(str(LOG).format(name="baseline")), env, root=tree
                )
            )[0],
            "head": stack.enter_context(
                server(plain(url), args.workers, Path(str(LOG).format(name="head")), env)
            )[0],
        }
        per_kind = args.warmup + args.pairs
        places = intake.draw_places(url, 6 * per_kind + 5000, rng)
        version = httpx.get(f"{bases['head']}/api/v1/consent-text", timeout=10).json()["version"]
        print(f"step 1 × ≥{2 * per_kind:,}: estimations for step 2", flush=True)
        made, _, _ = intake.pool(bases["head"], places[: 2 * per_kind + 5000], rng, 2,
                                 2 * per_kind)  # fmt: skip
        leads = [intake.step2(n + 1, e, a, version) for n, (e, a) in enumerate(made)]
        places = places[2 * per_kind + 5000 :]
        time.sleep(intake.TIME_TRAP_S)
        kinds = [str(k) for k in rng.permutation(list(intake.KINDS) * per_kind)]
        jobs = {
            "baseline": jobs_for(kinds, places[0::2], leads[0::2], rng),
            "head": jobs_for(kinds, places[1::2], leads[1::2], rng),
        }
        warm = 3 * args.warmup
        print(f"warm-up: {args.warmup} pairs of each kind", flush=True)
        paired(bases, kinds[:warm], {n: j[:warm] for n, j in jobs.items()})
        print(f"timed: {args.pairs} pairs of each kind", flush=True)
        times = paired(bases, kinds[warm:], {n: j[warm:] for n, j in jobs.items()})
        load["end"] = os.getloadavg()
    get_engine(url).dispose()
    print(f"\nbaseline {args.baseline} against this tree ({commit} + changes, if any)")
    print(f"{'ms, one client':22}{'baseline':>10}{'head':>9}{'head − base':>13}"
          f"{'paired Δ':>10}{'head ÷ base':>13}")  # fmt: skip
    for kind in intake.KINDS:
        base, head = (np.array(times[n][kind], dtype=float) / 1e6 for n in ("baseline", "head"))
        print(
            f"{intake.LABELS[kind][:22]:22}{np.median(base):>10.2f}{np.median(head):>9.2f}"
            f"{np.median(head) - np.median(base):>+13.2f}{np.median(head - base):>+10.2f}"
            f"{np.median(head) / np.median(base):>13.3f}"
        )
    print(f"load average (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
