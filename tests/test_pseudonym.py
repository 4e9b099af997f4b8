"""household_key is HMAC-SHA256 as interfaces.md defines it, checked against Python's hmac."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

from pyspark.sql import functions as F

from pipelines.pseudonym import ENV_KEY, hmac_sha256_hex, load_key


def test_spark_hmac_equals_python_hmac(spark):
    ids = ["3714020000001", "户号-001", "", "H" * 100]
    for key in (b"secret", b"k" * 64, b"long key " * 20):
        df = spark.createDataFrame([(i,) for i in ids], "household_id string")
        got = [r[0] for r in df.select(hmac_sha256_hex(F.col("household_id"), key)).collect()]
        assert got == [hmac.new(key, i.encode("utf-8"), hashlib.sha256).hexdigest() for i in ids]


def test_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_KEY, "from-env")
    assert load_key(tmp_path / "k") == b"from-env"
    assert not (tmp_path / "k").exists()


def test_key_file_is_created_once_owner_only_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_KEY, raising=False)
    path = tmp_path / "restricted" / "pseudonym.key"
    first = load_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(path) == first and len(first) == 64
