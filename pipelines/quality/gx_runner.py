"""Run a dataset-level Great Expectations suite on a Spark DataFrame for the ingestion quality gate.

Specs go in; a JSON-ready SuiteOutcome (and, optionally, static Data Docs) comes out.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.quality.data_docs import make_offline

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "KINDS",
    "ExpectationOutcome",
    "ExpectationSpec",
    "SuiteOutcome",
    "build_data_docs",
    "validate_dataframe",
]


@dataclass(frozen=True)
class _Kind:
    gx_class: str
    column_level: bool
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


_MOSTLY = ("mostly",)
_BOUNDS = ("min_value", "max_value")

KINDS: dict[str, _Kind] = {
    "unique": _Kind("ExpectColumnValuesToBeUnique", True, optional=_MOSTLY),
    "not_null": _Kind("ExpectColumnValuesToNotBeNull", True, optional=_MOSTLY),
    "in_set": _Kind("ExpectColumnValuesToBeInSet", True, ("value_set",), _MOSTLY),
    "regex": _Kind("ExpectColumnValuesToMatchRegex", True, ("regex",), _MOSTLY),
    "row_count_between": _Kind("ExpectTableRowCountToBeBetween", False, optional=_BOUNDS),
    "mean_between": _Kind("ExpectColumnMeanToBeBetween", True, optional=_BOUNDS),
    "between": _Kind("ExpectColumnValuesToBeBetween", True, optional=_BOUNDS + _MOSTLY),
    "compound_unique": _Kind("ExpectCompoundColumnsToBeUnique", False, ("column_list",), _MOSTLY),
}

# Keys copied from GX's per-expectation result into ExpectationOutcome.details.
_DETAIL_KEYS = (
    "observed_value",
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_nonmissing",
)
_PARTIAL_LIMIT = 5
# Persistent stores live here (inside docs_dir) so that the index lists every earlier run.
_STORE_DIRNAME = "_gx_store"
_SITE_NAME = "lipmon_local_site"
# Data Docs keep validations whose run name lacks "profiling"; a fixed name keeps them all.
_RUN_NAME = "lipmon-quality-gate"


@dataclass(frozen=True)
class ExpectationSpec:
    kind: str
    column: str | None
    params: dict = field(default_factory=dict)
    critical: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        kind = KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown expectation kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if kind.column_level and not self.column:
            raise ValueError(f"{self.label}: kind {self.kind!r} needs a column")
        if not kind.column_level and self.column is not None:
            raise ValueError(f"{self.label}: {self.kind!r} is table-level; column must be None")
        missing = [p for p in kind.required if p not in self.params]
        unknown = sorted(set(self.params) - set(kind.required) - set(kind.optional))
        if missing or unknown:
            raise ValueError(f"{self.label}: bad params for {self.kind!r} (missing {missing}, unknown {unknown})")

    @property
    def label(self) -> str:
        return self.name or (f"{self.column} {self.kind}" if self.column else self.kind)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expectation reads (none for a table-level count)."""
        return (self.column,) if self.column else tuple(self.params.get("column_list", ()))


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    kind: str
    column: str | None
    critical: bool
    success: bool
    observed: object
    details: dict


@dataclass(frozen=True)
class SuiteOutcome:
    suite_name: str
    success: bool
    critical_failures: list[ExpectationOutcome]
    outcomes: list[ExpectationOutcome]

    def to_dict(self) -> dict:
        return asdict(self)


def validate_dataframe(
    df: DataFrame,
    suite_name: str,
    specs: list[ExpectationSpec],
    *,
    docs_dir: Path | None = None,
    examples: int = _PARTIAL_LIMIT,
    cache: bool = True,
) -> SuiteOutcome:
    """Validate `df` against `specs` as one GX suite; optionally keep the result for Data Docs.

    Each call builds a fresh ephemeral GX context, so names never clash between calls. With
    `docs_dir`, the expectation and validation-result stores are kept in
    `docs_dir/_gx_store/`; `build_data_docs(docs_dir)` then renders the HTML site of every
    result kept there, once for several suites (rendering costs about half a second a time).

    `examples`: how many unexpected values each expectation reports (GX's partial
    unexpected list). Counts and percentages are always reported; with 0 GX computes only
    those, one aggregate per expectation, whereas listing examples costs a further scan or
    two per expectation (a filter that finds nothing reads every row) - and the examples
    are values of the column, which may be personal.

    `cache`: GX persists `df` while it computes its metrics, which pays when `df` is
    expensive to recompute. For a plain Parquet scan it does not: each expectation reads
    one column, and caching first writes every column to memory. After validation the
    cache is dropped, unless the caller had cached `df` already.
    """
    if not specs:
        raise ValueError("specs is empty: nothing to validate")
    gx = load_gx()
    docs_dir = Path(docs_dir).resolve() if docs_dir is not None else None
    context = gx.get_context(mode="ephemeral", project_config=_context_config(docs_dir))

    batch_definition = (
        context.data_sources.add_spark(name="lipmon_spark", persist=cache)
        .add_dataframe_asset(name=suite_name)
        .add_batch_definition_whole_dataframe(name="whole_dataframe")
    )
    suite = gx.ExpectationSuite(name=suite_name, expectations=[_to_gx(gx, i, s) for i, s in enumerate(specs)])
    suite = context.suites.add_or_update(suite)  # the docs store may already hold this name
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[validation],
            # SUMMARY adds, per expectation, a count of each unexpected value listed;
            # BASIC with no examples asks GX for the counts only.
            result_format={
                "result_format": "SUMMARY" if examples else "BASIC",
                "partial_unexpected_count": examples,
            },
        )
    )
    # GX persists the DataFrame while computing metrics; drop that cache afterwards unless the
    # caller had cached it already.
    was_cached = df.storageLevel.useMemory or df.storageLevel.useDisk
    try:
        result = checkpoint.run(
            batch_parameters={"dataframe": df},
            run_id=gx.RunIdentifier(run_name=_RUN_NAME, run_time=dt.datetime.now(dt.UTC)),
        )
    finally:
        if not was_cached:
            df.unpersist()
    (suite_result,) = result.run_results.values()

    by_index = {r.expectation_config.meta["lipmon_index"]: r for r in suite_result.results}
    outcomes = [_outcome(spec, by_index.get(i), examples) for i, spec in enumerate(specs)]
    return SuiteOutcome(
        suite_name=suite_name,
        success=all(o.success for o in outcomes),
        critical_failures=[o for o in outcomes if o.critical and not o.success],
        outcomes=outcomes,
    )


def build_data_docs(docs_dir: Path) -> Path | None:
    """Render the Data Docs site in `docs_dir` from the results `validate_dataframe` kept
    there: a page per validation and index.html listing them all, every page opening with
    no network (pipelines.quality.data_docs). Returns the index, or None when no result
    was kept there (nothing to render)."""
    docs_dir = Path(docs_dir).resolve()
    if not (docs_dir / _STORE_DIRNAME).exists():
        return None
    context = load_gx().get_context(mode="ephemeral", project_config=_context_config(docs_dir))
    context.build_data_docs(site_names=[_SITE_NAME])
    return make_offline(docs_dir, store=docs_dir / _STORE_DIRNAME)


def load_gx():
    """Import GX on first use (the import takes seconds), with usage statistics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def _context_config(docs_dir: Path | None):
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    stores = defaults.stores
    sites: dict = {}
    if docs_dir is not None:
        for store_name, subdir in (
            (defaults.expectations_store_name, "expectations"),
            (defaults.validation_results_store_name, "validations"),
        ):
            stores[store_name]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir / _STORE_DIRNAME / subdir),
            }
        sites[_SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    return DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )


def _to_gx(gx, index: int, spec: ExpectationSpec):
    from great_expectations.expectations.metadata_types import FailureSeverity

    cls = getattr(gx.expectations, KINDS[spec.kind].gx_class)
    kwargs: dict[str, Any] = dict(spec.params)
    if spec.column is not None:
        kwargs["column"] = spec.column
    try:
        return cls(
            **kwargs,
            meta={"lipmon_index": index, "lipmon_name": spec.label},
            severity=FailureSeverity.CRITICAL if spec.critical else FailureSeverity.WARNING,
        )
    except Exception as exc:  # pydantic validation of the params
        raise ValueError(f"{spec.label}: invalid params for {spec.kind!r}: {exc}") from exc


def _outcome(spec: ExpectationSpec, evr, examples: int) -> ExpectationOutcome:
    error: str | None
    if evr is None:  # GX returned no result for this expectation: treat as a failure
        success, result, error = False, {}, "no result returned by Great Expectations"
    else:
        success, result, error = bool(evr.success), dict(evr.result or {}), _error(evr)
    details = {k: result[k] for k in _DETAIL_KEYS if k in result}
    if examples and "partial_unexpected_list" in result:
        details["partial_unexpected_list"] = list(result["partial_unexpected_list"])[:examples]
    if error:
        details["error"] = error
    observed = result.get("observed_value", result.get("unexpected_percent"))
    return ExpectationOutcome(
        name=spec.label,
        kind=spec.kind,
        column=spec.column,
        critical=spec.critical,
        success=success,
        observed=_jsonable(observed),
        details=_jsonable(details),
    )


def _error(evr) -> str | None:
    info = evr.exception_info or {}
    found = [info] if "raised_exception" in info else list(info.values())
    messages = [str(i.get("exception_message")) for i in found if isinstance(i, dict) and i.get("raised_exception")]
    return "; ".join(messages) or None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return _jsonable(float(value))
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)
