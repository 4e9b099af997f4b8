"""Pushing alerts to caseworkers (主动推送), exactly once: the NEW and ESCALATED alerts of a
snapshot date become messages (`messages.py`) in a queue in the restricted zone
(`queue.py`); `deliver.py` sends what the push ledger (`ledger.py`) has not recorded yet
through the configured sink (`sink.py`: outbox, webhook or database) and records each
delivered batch. Runs after the snapshot is published, before the run is marked done."""
