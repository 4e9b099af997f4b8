"""Data contracts: one YAML file per source under `schemas/`, the single source of truth
for its columns, types, codes, key, personal-data flags and delivery format."""

from pipelines.contracts.model import (
    DELIVERY_FIELDS,
    Column,
    Contract,
    ContractError,
    Rule,
    load_contract,
    load_contracts,
)

__all__ = ["DELIVERY_FIELDS", "Column", "Contract", "ContractError", "Rule", "load_contract", "load_contracts"]
