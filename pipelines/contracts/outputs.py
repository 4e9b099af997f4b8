"""Output contracts (`schemas/outputs/*.yaml`): the columns, types and descriptions of the
tables lipmon publishes. Transforms end by conforming to them, so the published schema
and its documentation (carried into the Parquet metadata) have one source."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.contracts.files import schemas_dir
from pipelines.contracts.model import ContractError

SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "array<string>": T.ArrayType(T.StringType()),
    "map<string,date>": T.MapType(T.StringType(), T.DateType()),
}


class OutputColumn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["string", "long", "double", "boolean", "date", "array<string>", "map<string,date>"]
    description: str
    personal: bool = False


class OutputContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    zone: Literal["gold", "restricted"]
    partition: str
    description: str
    columns: list[OutputColumn] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_personal_data_for_analysts(self) -> OutputContract:
        personal = [c.name for c in self.columns if c.personal]
        if self.zone == "gold" and personal:
            raise ValueError(f"analyst-facing table {self.name} must not carry personal data: {', '.join(personal)}")
        return self

    # Shadows pydantic's deprecated classmethod `schema` (its JSON schema), which lipmon never uses.
    def schema(self) -> T.StructType:  # type: ignore[override]
        return T.StructType(
            [
                T.StructField(c.name, SPARK_TYPES[c.type], True, {"comment": c.description, "personal": c.personal})
                for c in self.columns
            ]
        )


def load_output_contract(path: Path) -> OutputContract:
    try:
        return OutputContract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ContractError(f"{path}: {exc}") from exc


def output_contract(name: str) -> OutputContract:
    """The bundled output contract `schemas/outputs/<name>.yaml`."""
    return load_output_contract(schemas_dir() / "outputs" / f"{name}.yaml")


def conform(df: DataFrame, contract: OutputContract) -> DataFrame:
    """Exactly the contract's columns, in its order, with its types and descriptions."""
    missing = [f.name for f in contract.schema().fields if f.name not in df.columns]
    if missing:
        raise ContractError(f"output {contract.name} is missing columns: {', '.join(missing)}")
    return df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in contract.schema().fields]
    )
