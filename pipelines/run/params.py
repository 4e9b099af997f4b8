"""The typed parameters of a nightly run and a backfill, validated before any work (the
Prefect UI shows them as a form)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from pipelines.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Today in Asia/Shanghai: the default snapshot date."""
    return datetime.now(TZ).date()


class Locations(BaseModel):
    """Where a run reads and writes, and how its Spark steps run; None falls back to the
    environment, then the defaults. `spark_submit`: each Spark step is a spark-submit of
    its own (pipelines.run.launch) instead of running in this process."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    landing: str | None = None
    lake: str | None = None
    config: str | None = None
    master: str | None = None
    spark_submit: bool = False

    def settings(self) -> Settings:
        return Settings.resolve(landing=self.landing, lake=self.lake, config=self.config, master=self.master)

    def locations(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in Locations.model_fields}


def _not_in_future(label: str, value: date) -> date:
    if value > today():
        raise ValueError(f"{label} {value} is in the future (today is {today()} in Asia/Shanghai)")
    return value


class RunParameters(Locations):
    """What a nightly run needs. `relink_later`: after recomputing a date, re-derive the
    alert lifecycle of the published dates after it. `full`: compute the night from the
    landed rows alone, not from the state kept by earlier nights (pipelines.state)."""

    snapshot_date: date
    push: bool = True
    relink_later: bool = True
    rotate_pseudonym_key: bool = False
    full: bool = False

    @field_validator("snapshot_date")
    @classmethod
    def _snapshot_date(cls, value: date) -> date:
        return _not_in_future("snapshot_date", value)


class BackfillParameters(Locations):
    start: date
    end: date
    push: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> BackfillParameters:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        _not_in_future("end", self.end)
        return self

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def run(self, day: date) -> RunParameters:
        """The nightly run of one date of the range. Each date sees its predecessor in order,
        so only the last one re-derives the lifecycle of the published dates after the range."""
        return RunParameters(snapshot_date=day, push=self.push, relink_later=day == self.end, **self.locations())
