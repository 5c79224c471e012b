"""The ``frugalml`` command: ``list``, ``reproduce``, ``report``, ``select``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` name one file (the same path, a symlink or a hard link to it)."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _write_npy_atomic(path: Path, array) -> None:
    """``np.save`` to exactly ``path`` through a unique temporary file: a failure leaves no half file."""
    import numpy as np

    from frugalml._core.results import replace_atomic

    try:  # a file handle: np.save(str) would append ".npy" to the path given
        replace_atomic(path, lambda fh: np.save(fh, array, allow_pickle=False), mode="wb")
    except OSError as exc:
        raise ValueError(f"--out: cannot write in {str(path.parent)!r} ({exc.strerror or exc})") from None


def _cmd_list(args) -> int:
    from frugalml.repro import EXPERIMENTS

    width = max(len(n) for n in EXPERIMENTS)
    for name, paper in EXPERIMENTS.items():
        print(f"{name:<{width}}  {paper}")
    return 0


def _cmd_reproduce(args) -> int:
    from frugalml._core.progress import set_quiet
    from frugalml.repro.harness import reproduce

    set_quiet(args.quiet)
    try:
        records = reproduce(args.names, scale=args.scale, seed=args.seed, out=args.out)
    except (ValueError, OSError) as exc:
        print(f"frugalml reproduce: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {Path(args.out).resolve() / 'report.html'}")
    return 1 if any(r["status"] == "crashed" for r in records) else 0


def _cmd_report(args) -> int:
    from frugalml._core.validation import check_path
    from frugalml.repro.report import build_report

    try:
        path = build_report(check_path(args.dir, "DIR", must_exist=False, kind="dir"))  # '' is not '.'
    except (ValueError, OSError) as exc:
        print(f"frugalml report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path.resolve()}")
    return 0


def _cmd_select(args) -> int:

    from frugalml.selection import SELECTORS

    from frugalml._core.validation import check_path, check_scalar, load_npy

    try:
        out = check_path(args.out, "--out", must_exist=False, kind="file")
        if not out.parent.is_dir():
            raise ValueError(f"--out: folder {str(out.parent)!r} does not exist; create it first")
        for option, given in (("--embeddings", args.embeddings), ("--labels", args.labels)):
            if given is not None and _same_file(out, Path(given)):
                raise ValueError(f"--out {str(out)!r} is the {option} file; it would be overwritten: "
                                 "write the indices to another file")
        X = load_npy(args.embeddings, "--embeddings", mmap_mode="r" if args.mmap or args.scheduler else None)
        y = load_npy(args.labels, "--labels") if args.labels else None
        if args.fraction is not None and args.n_select is not None:
            raise ValueError("give --fraction or --n-select, not both")
        check_scalar(args.seed, "--seed", integer=True, low=0)
        cls = SELECTORS[args.method]
        kwargs = dict(fraction=args.fraction) if args.n_select is None else dict(n_select=args.n_select)
        if args.n_batches is not None:
            if args.method != "gm_matching":
                raise ValueError("--n-batches applies to --method gm_matching only")
            kwargs["n_batches"] = check_scalar(args.n_batches, "--n-batches", integer=True, low=1)
        selector = cls(**kwargs, metric=args.metric, random_state=args.seed)
        if args.scheduler:
            idx = _select_on_cluster(selector, args.embeddings, y, args.scheduler)
        else:
            idx = selector.select(X, y)
        _write_npy_atomic(out, idx)
    except (ValueError, TypeError, OSError) as exc:
        print(f"frugalml select: error: {exc}", file=sys.stderr)
        return 2
    print(f"selected {idx.size} of {len(X)} points with {args.method}; indices written to {out}")
    return 0


def _select_on_cluster(selector, path, y, address):
    """Run ``selector`` on a running Dask scheduler; workers read their chunks of ``path`` themselves."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'frugalml[scale]'") from None
    from frugalml.selection.out_of_core import npy_as_dask

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {address!r} ({exc})") from None
    with client:
        return selector.select(npy_as_dask(path), y)


def build_parser() -> argparse.ArgumentParser:
    from frugalml.repro import SCALES

    parser = argparse.ArgumentParser(prog="frugalml", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the experiments, one line each")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("reproduce", help="run experiments, check claims, write figures and report.html")
    p.add_argument("names", nargs="*", help="experiment names (default: all; see `frugalml list`)")
    p.add_argument("--scale", choices=SCALES, default="default")
    p.add_argument("--out", default="runs/latest", help="output folder (default: runs/latest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("report", help="rebuild DIR/report.html from saved results")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("select", help="select a subset of your own embeddings")
    p.add_argument("--embeddings", required=True, help=".npy file, shape (n, d)")
    p.add_argument("--labels", help=".npy file of n integer labels (selection is then per class)")
    p.add_argument("--fraction", type=float, help="fraction of points to keep, in (0, 1]")
    p.add_argument("--n-select", type=int, help="number of points to keep (instead of --fraction)")
    p.add_argument("--method", default="gm_matching", help="selector (default: gm_matching)")
    p.add_argument("--metric", default="euclidean", choices=["euclidean", "cosine"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-batches", type=int, help="gm_matching: split each class into this many random batches "
                   "(bounds memory and time on huge data; the paper's batched version)")
    p.add_argument("--mmap", action="store_true", help="map the embeddings file instead of reading it (larger "
                   "than memory: read one class or batch at a time; same indices)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a running Dask scheduler (e.g. "
                   "tcp://host:8786); workers must see the embeddings file at the same path")
    p.add_argument("--out", required=True, help="output .npy file of sorted indices")
    p.set_defaults(func=_cmd_select)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "select":
        from frugalml.selection import SELECTORS

        if args.method not in SELECTORS:
            parser.error(f"--method must be one of {', '.join(SELECTORS)}; got {args.method!r}")
        if args.fraction is None and args.n_select is None:
            parser.error("give --fraction or --n-select")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
