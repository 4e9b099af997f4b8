"""Alert rules (主动发现): TOP_INDEX and LOW_INCOME, ranks, candidate categories."""
