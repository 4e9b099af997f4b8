"""Policy configuration: dibao standards, index weights and thresholds, alert rules and
candidate categories, validated before any work."""

from pipelines.policy.config import CODED_SETTINGS, ConfigError, Policy, load_policy

__all__ = ["CODED_SETTINGS", "ConfigError", "Policy", "load_policy"]
