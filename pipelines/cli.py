"""The `lipmon` command line. Each command resolves its settings, runs one step of the
pipeline and exits 0, or non-zero with a one-line reason."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.lease import LakeLease
from pipelines.run.logs import configure_logging, failure_line, quiet_prefect
from pipelines.run.params import BackfillParameters, RunParameters, today
from pipelines.settings import Settings

log = logging.getLogger("lipmon")

# Set for the commands' own process and what it starts, before Prefect or Great
# Expectations is imported: no network here and no reason to phone home; and Prefect waits
# 20 s for its temporary server, which on a busy machine, or with a fresh Prefect database
# to migrate, can take longer.
QUIET_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


class UsageError(ValueError):
    pass


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--landing", help="landing folder of deliveries (env LIPMON_LANDING; default: the bundled sample)"
    )
    parser.add_argument(
        "--lake",
        help="lake for outputs: a folder or a Hadoop URI such as hdfs://nn:8020/lake (env LIPMON_LAKE; default ./lake)",
    )
    parser.add_argument("--config", help="configuration file (env LIPMON_CONFIG)")
    parser.add_argument("--master", help="Spark master URL (env LIPMON_SPARK_MASTER; default local[2])")


def _submit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spark-submit",
        action="store_true",
        default=None,
        help="run each Spark step through spark-submit against --master instead of in this "
        "process (env LIPMON_SPARK_SUBMIT=1; options for it in LIPMON_SPARK_SUBMIT_OPTIONS)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lipmon", description="Low-income population dynamic monitoring (低收入人口动态监测)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="land ready deliveries dated on or before a date",
        description="Land every ready delivery dated on or before --date that is not landed yet.",
    )
    p.add_argument("--date", type=_date, default=None, help="run date YYYY-MM-DD (default: today in Asia/Shanghai)")
    p.add_argument("--force", action="store_true", help="land deliveries again even if already landed")
    _common(p)

    p = sub.add_parser(
        "run",
        help="run the nightly pipeline for a snapshot date",
        description="Run the nightly pipeline for snapshot date --date: ingest and quality gate, "
        "household profiles, hardship index and alerts, push of new and escalated "
        "alerts.",
    )
    p.add_argument(
        "--date", type=_date, default=None, help="snapshot date YYYY-MM-DD (default: today in Asia/Shanghai)"
    )
    p.add_argument(
        "--rotate-pseudonym-key",
        action="store_true",
        help="the pseudonym key changes on purpose: carry the alert lifecycle across (see the README)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="compute the night from the landed rows alone, ignoring and replacing the state kept by "
        "earlier nights (the outputs are the same either way)",
    )
    _common(p)
    _submit_option(p)

    p = sub.add_parser(
        "backfill",
        help="rerun a range of snapshot dates in order",
        description="Rerun the nightly pipeline for every date from --start to --end.",
    )
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True)
    p.add_argument("--push", action="store_true", help="push alerts (backfills push nothing by default)")
    _common(p)
    _submit_option(p)

    p = sub.add_parser(
        "generate",
        help="write synthetic deliveries in the delivered formats",
        description="Write a synthetic city's deliveries (deterministic for a given --seed).",
    )
    p.add_argument("--households", type=int, required=True)
    p.add_argument("--out", required=True, help="landing folder to write")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--as-of", type=_date, default=date(2026, 11, 28), help="date of the newest deliveries")
    _common(p)

    p = sub.add_parser(
        "bench",
        help="measure a cold run and a steady night on a generated city",
        description="Generate a city (cached by its parameters), then measure a cold run (all "
        "history landed, then the snapshot) and a steady night (the next day's "
        "deliveries only); write the figures as JSON.",
    )
    p.add_argument("--households", type=int, action="append", help="city size; repeat for several (default 2000000)")
    p.add_argument(
        "--scaling", action="store_true", help="run 250k, 500k, 1M and 2M households and report how cost grows"
    )
    p.add_argument("--work", default="bench", help="folder for the cached cities, lakes and logs (default ./bench)")
    p.add_argument("--out", help="JSON result file (default WORK/result.json)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--steady-repeats",
        type=int,
        default=1,
        metavar="N",
        help="run the steady night N times, each on the lake as the cold run left it, and "
        "report the median and spread (default 1)",
    )
    p.add_argument("--driver-memory", help="Spark driver memory for the runs, e.g. 6g (env LIPMON_DRIVER_MEMORY)")
    p.add_argument("--config", help="configuration file for the runs (env LIPMON_CONFIG)")
    p.add_argument("--master", help="Spark master URL for the runs (env LIPMON_SPARK_MASTER; default local[2])")

    p = sub.add_parser(
        "serve",
        help="serve the Prefect deployments with their schedules",
        description="Serve the nightly and backfill Prefect deployments.",
    )
    _common(p)
    _submit_option(p)

    p = sub.add_parser(
        "compare",
        help="compare two lakes' outputs of a date row for row",
        description="Compare the outputs of snapshot date --date in two lakes (the snapshot tables, "
        "and bronze and quarantine of the deliveries up to it) as multisets of rows; "
        "exit 0 if all are equal, 1 if any differs.",
    )
    p.add_argument("lake_a")
    p.add_argument("lake_b")
    p.add_argument("--date", type=_date, required=True, help="snapshot date YYYY-MM-DD")
    p.add_argument(
        "--snapshot-only", action="store_true", help="compare only the snapshot tables, not bronze and quarantine"
    )
    p.add_argument("--master", help="Spark master URL (env LIPMON_SPARK_MASTER; default local[2])")

    p = sub.add_parser(
        "report",
        help="write a night's run report (runs/D/report.html) from the published tables",
        description="Write runs/D/report.html again from the run's records and the published "
        "tables of the date: one self-contained HTML file that opens with no network.",
    )
    p.add_argument("--date", type=_date, required=True, help="snapshot date YYYY-MM-DD")
    p.add_argument("--lake", help="lake folder or URI (env LIPMON_LAKE; default ./lake)")
    p.add_argument("--config", help="configuration file (env LIPMON_CONFIG)")

    p = sub.add_parser(
        "whatif",
        help="simulate policy settings on a published date: what alerts and categories would change",
        description="Recompute the index, rules and categories of the published household profile of "
        "--date with policy settings changed, and report the households and persons added and dropped "
        "(by county, rule and category) and the monthly cost of the dibao gap before and after. A "
        "simulation: nothing published changes; the report goes to LAKE/whatif/D/<digest>/.",
        epilog="settings (--set KEY=VALUE, repeatable, applied in order over --config): "
        "index.weights.<component> (the weights must still sum to 1), index.income_zero_at_ratio, "
        "alerts.top_share, alerts.top_scope (city or county), alerts.low_income_multiple, "
        "categories.dibao_ratio_below, categories.marginal_ratio_below, categories.rigid_expenditure_share, "
        "exit_review.income_ratio_from.<programme>, exit_review.understated_share, "
        "exit_review.understated_min_yuan, relapse_risk.income_ratio_below, "
        "relapse_risk.medical_component_from. Dibao standards: dibao_standards.<county>.<urban|rural>=AMOUNT "
        "sets the county's standard in force on --date (county * for every county without its own, "
        "type * for both), dibao_standards.scale=F multiplies every standard in force on --date. "
        "SPOT_CHECK is taken as published; settings the profile was built with (windows, age limits, "
        "farm returns, assets, roll) need a night: lipmon run with --config.",
    )
    p.add_argument("--date", type=_date, required=True, help="published snapshot date YYYY-MM-DD")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a policy setting, as a dotted path and a YAML value, e.g. alerts.top_share=0.07 (see below)",
    )
    _common(p)

    p = sub.add_parser(
        "package",
        help="build the zips that spark-submit ships to a cluster",
        description="Write lipmon-<version>.zip (the code, for --py-files) and "
        "lipmon-schemas-<version>.zip (the contracts, for --archives).",
    )
    p.add_argument("--out", default="dist", help="folder to write them to (default ./dist)")
    return parser


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.contracts import load_contracts
    from pipelines.ingest.run import ingest, summary_lines
    from pipelines.lake import Lake, city_residents
    from pipelines.spark import build_spark
    from pipelines.storage import is_remote

    as_of = args.date or today()
    if not settings.landing.is_dir():
        raise UsageError(f"--landing {settings.landing}: no such folder")
    contracts = load_contracts(settings.contracts_dir)
    # A lake at a URI is reached through Spark's JVM: the session (with its settings) first.
    residents = city_residents(settings.landing, settings.lake)
    spark = build_spark(settings.master, residents=residents) if is_remote(settings.lake) else None
    with LakeLease(settings.lake, command="ingest", date=as_of.isoformat()):
        spark = spark or build_spark(settings.master, residents=residents)
        report = ingest(spark, Lake(settings.lake), settings.landing, contracts, as_of=as_of, force=args.force)
    print("\n".join(summary_lines(report)))
    print(f"report: {Lake(settings.lake).run_dir(as_of) / 'ingest.json'}")
    if report.failures:
        first = report.failures[0]
        raise RuntimeError(f"{len(report.failures)} delivery(ies) failed; first: {first.error}")
    return 0


def _spark_submit(args: argparse.Namespace) -> bool:
    if args.spark_submit is not None:
        return args.spark_submit
    return os.environ.get("LIPMON_SPARK_SUBMIT", "").strip().lower() in ("1", "true", "yes")


def run_parameters(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    common = {
        "landing": args.landing,
        "lake": args.lake,
        "config": args.config,
        "master": args.master,
        "spark_submit": _spark_submit(args),
    }
    try:
        if args.command == "backfill":
            return BackfillParameters(start=args.start, end=args.end, push=args.push, **common)
        return RunParameters(
            snapshot_date=args.date or today(),
            rotate_pseudonym_key=args.rotate_pseudonym_key,
            full=args.full,
            **common,
        )
    except ValidationError as exc:
        raise UsageError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def _print_night(record: dict) -> None:
    totals: dict[str, list[int]] = {}
    for d in record["ingest"]["deliveries"]:
        t = totals.setdefault(d["source"], [0, 0, 0, 0])
        t[0] += d["status"] == "landed"
        t[1:] = [t[1] + d["rows_read"], t[2] + d["rows_kept"], t[3] + d["rows_quarantined"]]
    print(f"{'source':<22}{'landed now':>11}{'read':>11}{'kept':>11}{'quarantined':>13}")
    for source, (landed, read, kept, bad) in totals.items():
        print(f"{source:<22}{landed:>11}{read:>11}{kept:>11}{bad:>13}")
    snap = record["snapshot"]
    print(
        f"households scored: {snap['households']}; alerts: {snap['alerts']} "
        f"(by rule {snap['alerts_by_rule']}; by category {snap['alerts_by_category']}; "
        f"by status {snap['alerts_by_status']}); resolved: {snap['resolved']} "
        f"(against {snap['lifecycle_against'] or 'no earlier run'})"
    )
    print(f"push: {_push_line(record)}")
    _print_relinked(record)


def _print_relinked(record: dict) -> None:
    if record.get("lifecycle", {}).get("relinked"):
        print(f"lifecycle re-derived for later dates: {', '.join(record['lifecycle']['relinked'])}")


def _push_line(record: dict) -> str:
    push = record["push"]
    if "skipped" in push:
        return push["skipped"]
    return (
        f"{sum(push['delivered'].values())} message(s) delivered to {push['sink']} {push['where']} "
        f"{push['delivered']}; {push['already_delivered']} delivered before"
    )


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    params = run_parameters(args)
    from pipelines.run.flows import nightly
    from pipelines.run.launch import warm_up
    from pipelines.run.steps import reach_lake

    quiet_prefect()
    reach_lake(params)
    with LakeLease(settings.lake, command="run", date=params.snapshot_date.isoformat()):  # before Prefect starts
        warm_up(params)
        record = nightly(params)
    _print_night(record)
    print(f"manifest: {settings.lake / 'runs' / params.snapshot_date.isoformat() / 'manifest.json'}")
    return 0


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    params = run_parameters(args)
    from pipelines.run.flows import backfill
    from pipelines.run.launch import warm_up
    from pipelines.run.steps import reach_lake

    quiet_prefect()
    reach_lake(params)
    with LakeLease(settings.lake, command="backfill", date=f"{params.start}..{params.end}"):
        warm_up(params)
        records = backfill(params)
    for day, record in zip(params.dates(), records):
        snap = record["snapshot"]
        print(
            f"{day}: households {snap['households']}, alerts {snap['alerts']} {snap['alerts_by_status']}, "
            f"resolved {snap['resolved']}; push: {_push_line(record)}"
        )
        _print_relinked(record)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        raise UsageError(
            "schedules need a Prefect server: start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    from prefect import serve

    from pipelines.run.flows import deployments

    serve(
        *deployments(
            landing=args.landing,
            lake=args.lake,
            config=args.config,
            master=args.master,
            spark_submit=_spark_submit(args),
        )
    )
    return 0


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.generate import generate_landing

    if args.households < 1:
        raise UsageError(f"--households must be at least 1, got {args.households}")
    summary = generate_landing(Path(args.out), args.households, seed=args.seed, as_of=args.as_of)
    for source, per_delivery in summary["rows"].items():
        bad = sum(summary["bad_rows"].get(source, {}).values())
        print(
            f"{source:<22}{len(per_delivery):>4} deliveries{sum(per_delivery.values()):>12} rows"
            f"{bad:>9} bad rows injected"
        )
    print(f"wrote {summary['households']} households, {summary['persons']} persons to {args.out}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.run.bench import SCALING_HOUSEHOLDS, run_bench

    sizes = list(SCALING_HOUSEHOLDS) if args.scaling else (args.households or [2_000_000])
    if any(n < 1 for n in sizes):
        raise UsageError(f"--households must be at least 1, got {min(sizes)}")
    if args.steady_repeats < 1:
        raise UsageError(f"--steady-repeats must be at least 1, got {args.steady_repeats}")
    work = Path(args.work)
    out = Path(args.out) if args.out else work / "result.json"
    run_options = [
        *(["--config", str(settings.config)] if settings.config else []),
        *(["--master", settings.master] if settings.master else []),
    ]
    payload = run_bench(
        sizes,
        work,
        out,
        seed=args.seed,
        driver_memory=args.driver_memory,
        run_options=run_options,
        steady_repeats=args.steady_repeats,
    )
    print(f"{'households':>11}{'night':>14}{'wall s':>9}{'ingest s':>10}{'snapshot s':>11}{'rows/s':>9}{'peak GB':>9}")
    for r in payload["results"]:
        for name in ("cold_run", "steady_night"):
            n = r[name]
            steps = n["step_seconds"]
            print(
                f"{r['households']:>11}{name:>14}{n['wall_seconds']:>9.1f}{steps.get('ingest', 0):>10.1f}"
                f"{steps.get('snapshot', 0):>11.1f}{n['ingest_rows_per_second'] or 0:>9}"
                f"{n['peak_tree_rss_bytes'] / 1e9:>9.2f}"
            )
        for name in ("cold_run", "steady_night"):
            kinds = ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in r[name].get("peak_rss_bytes_by_process", {}).items())
            print(f"{r['households']:>11}{name:>14} at its peak: {kinds}")
        spread = r.get("steady_spread")
        if spread:
            print(
                f"{r['households']:>11} steady night x{spread['runs']}: median {spread['median_wall_seconds']:.1f} s, "
                f"min {spread['min_wall_seconds']:.1f} s, max {spread['max_wall_seconds']:.1f} s, "
                f"spread {spread['spread_seconds']:.1f} s"
            )
    print(f"result: {out}")
    return 0


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.compare import compare_lakes
    from pipelines.spark import build_spark
    from pipelines.storage import lake_location

    spark = build_spark(settings.master)  # first: a lake at a URI is read through its JVM
    a, b = lake_location(args.lake_a), lake_location(args.lake_b)
    for lake in (a, b):
        if not (lake / "runs").is_dir():
            raise UsageError(f"{lake}: not a lipmon lake (no runs/ folder)")
    diffs = compare_lakes(spark, a, b, args.date, ingested=not args.snapshot_only)
    if not diffs:
        raise UsageError(f"neither lake has outputs of {args.date}")
    print(f"{'partition':<62}{'rows a':>10}{'rows b':>10}{'only a':>8}{'only b':>8}")
    for d in diffs:
        print(
            f"{d.partition:<62}{d.rows_a:>10}{d.rows_b:>10}{d.only_in_a:>8}{d.only_in_b:>8}"
            f"{'' if d.equal else '  DIFFERENT'}"
        )
    different = [d.partition for d in diffs if not d.equal]
    print(
        f"{len(diffs) - len(different)} of {len(diffs)} partition(s) equal row for row"
        + (f"; different: {', '.join(different)}" if different else "")
    )
    return 1 if different else 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.lake import Lake
    from pipelines.policy import load_policy
    from pipelines.report.run_report import write_report

    if not (settings.lake / "runs" / args.date.isoformat()).is_dir():
        raise UsageError(f"{settings.lake}: no run of {args.date} (no runs/{args.date}/ folder)")
    target = write_report(Lake(settings.lake), load_policy(settings.config), args.date)
    print(f"report: {target} ({target.stat().st_size:,} bytes)")
    return 0


def cmd_whatif(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.policy import load_policy
    from pipelines.report.whatif import run_whatif
    from pipelines.storage import is_remote

    if is_remote(settings.lake):
        from pipelines.spark import build_spark

        build_spark(settings.master)  # a lake at a URI is read through Spark's JVM
    # No lease: it reads what was published and writes only its own folder, so it may run
    # while a night writes the lake.
    result = run_whatif(settings.lake, args.date, load_policy(settings.config), args.settings)
    print("\n".join(result.lines))
    print(f"written to: {result.folder}")
    return 0


def cmd_package(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.run.package import package

    built = package(Path(args.out))
    for path in built.values():
        print(f"{path} ({path.stat().st_size} bytes)")
    print(f"submit with: spark-submit --py-files {built['py_files']} jobs/night.py --date YYYY-MM-DD --lake ...")
    return 0


# The commands that write the lake (under its lease): a failure of theirs is about the lake.
LAKE_WRITERS = {"ingest", "run", "backfill", "serve"}

COMMANDS = {
    "compare": cmd_compare,
    "package": cmd_package,
    "report": cmd_report,
    "bench": cmd_bench,
    "ingest": cmd_ingest,
    "run": cmd_run,
    "generate": cmd_generate,
    "backfill": cmd_backfill,
    "serve": cmd_serve,
    "whatif": cmd_whatif,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    configure_logging()
    lake = None
    try:
        settings = Settings.resolve(
            landing=getattr(args, "landing", None),
            lake=getattr(args, "lake", None),
            config=getattr(args, "config", None),
            master=getattr(args, "master", None),
        )
        lake = settings.lake if args.command in LAKE_WRITERS else None
        return COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        print("lipmon: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place that turns any failure into a one-line reason
        if os.environ.get("LIPMON_DEBUG"):
            traceback.print_exc()
        print(failure_line(args.command, exc, lake), file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
