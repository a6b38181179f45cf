"""``lcnn evaluate``: EER and min t-DCF of a countermeasure score file, pooled and broken down.

Examples::

    lcnn evaluate scores.txt --protocol ASVspoof2019.LA.cm.eval.trl.txt \\
        --asv-scores ASVspoof2019.LA.asv.eval.gi.trl.scores.txt
    lcnn evaluate scores.txt --protocol trial_metadata.txt --subset eval --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

DET_PLOT = "det_curve.png"
HISTOGRAM_PLOT = "score_histograms.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="compute EER and min t-DCF (2019 and 2021 forms) of a score file",
        description=(
            "Compute pooled, per-attack and per-condition EER and min t-DCF of countermeasure scores "
            "(higher score = bona fide), as the ASVspoof evaluation tools do. Score files: 'TRIAL SCORE', "
            "'TRIAL ATTACK KEY SCORE', 'SPEAKER TRIAL ENV ATTACK KEY SCORE' (gzip allowed), or a MATLAB "
            ".mat score vector in protocol order."
        ),
    )

    parser.add_argument("scores", type=Path, help="countermeasure score file")
    parser.add_argument(
        "--protocol",
        type=Path,
        default=None,
        help="protocol or key file with the labels (default: none; then the score file must have a key column)",
    )
    parser.add_argument(
        "--protocol-format",
        choices=("auto", "asvspoof2019", "asvspoof2021", "csv"),
        default="auto",
        help="format of --protocol (default: auto, detected from its first line)",
    )
    parser.add_argument(
        "--subset",
        default=None,
        help="ASVspoof 2021 keys only: evaluate this subset, e.g. eval or progress (default: all trials)",
    )

    parser.add_argument(
        "--asv-scores",
        type=Path,
        default=None,
        help="ASV score file 'SOURCE KEY SCORE' for the t-DCF (default: none, EER only)",
    )
    parser.add_argument(
        "--asv-threshold-scores",
        type=Path,
        default=None,
        help=(
            "ASV score file whose target/nontarget EER threshold fixes the ASV operating point, e.g. the "
            "development scores (default: the EER threshold of --asv-scores)"
        ),
    )

    parser.add_argument("--negate", action="store_true", help="negate the scores first (for files where higher = spoof)")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="evaluate the trials present in both the score file and the protocol instead of failing",
    )

    parser.add_argument("--json", action="store_true", help="print the results as one JSON object instead of tables")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write {DET_PLOT} and {HISTOGRAM_PLOT} into DIR (default: no plots)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing plot files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    import numpy as np

    from lcnn.data.protocols import read_protocol
    from lcnn.errors import ConfigError
    from lcnn.evaluation.report import evaluate_scores, format_report
    from lcnn.evaluation.scorefile import join_scores, read_asv_scores, read_score_file, trials_from_score_file
    from lcnn.fileio import check_writable
    from lcnn.metrics import compute_eer

    if args.asv_threshold_scores is not None and args.asv_scores is None:
        raise ConfigError("--asv-threshold-scores needs --asv-scores: the t-DCF is computed on --asv-scores.")
    if args.subset is not None and args.protocol is None:
        raise ConfigError("--subset selects trials of an ASVspoof 2021 key file: pass it with --protocol.")
    plot_paths = []
    if args.plot is not None:
        plot_paths = [check_writable(args.plot / name, force=args.force) for name in (DET_PLOT, HISTOGRAM_PLOT)]

    score_file = read_score_file(args.scores)
    if args.protocol is not None:
        trials = read_protocol(args.protocol, format=args.protocol_format, subset=args.subset)
    else:
        trials = trials_from_score_file(score_file)
    trials, scores, join_notes = join_scores(score_file, trials, allow_missing=args.allow_missing)
    if args.negate:
        scores = -scores

    asv_scores = read_asv_scores(args.asv_scores) if args.asv_scores is not None else None
    asv_threshold = asv_threshold_source = None
    if args.asv_threshold_scores is not None:
        threshold_scores = read_asv_scores(args.asv_threshold_scores)
        asv_threshold = compute_eer(threshold_scores.target, threshold_scores.nontarget)[1]
        asv_threshold_source = f"EER threshold of the target vs nontarget scores in {args.asv_threshold_scores}"

    result = evaluate_scores(
        scores,
        trials,
        asv_scores=asv_scores,
        asv_threshold=asv_threshold,
        asv_threshold_source=asv_threshold_source,
    )
    result = dataclasses.replace(result, notes=[*join_notes, *result.notes])

    if plot_paths:
        from lcnn.evaluation.plots import plot_det_curves, plot_score_histograms

        labels = np.asarray([trial.label for trial in trials])
        attacks = [trial.attack for trial in trials]
        bonafide = scores[labels == 1]
        curves = {"pooled": (bonafide, scores[labels == 0])}
        for attack in result.per_attack:
            curves[attack] = (bonafide, scores[(labels == 0) & (np.asarray(attacks, dtype=object) == attack)])
        plot_det_curves(curves, plot_paths[0], title=f"DET curve: {args.scores.name}", force=args.force)
        plot_score_histograms(scores, labels, plot_paths[1], attacks=attacks, force=args.force)

    if args.json:
        output = {"score_file": str(args.scores), "protocol": str(args.protocol) if args.protocol else None}
        output.update(result.to_dict())
        if plot_paths:
            output["plots"] = [str(path) for path in plot_paths]
        print(json.dumps(output, indent=2))
    else:
        print(format_report(result))
        for path in plot_paths:
            print(f"Wrote {path}")
    return 0
