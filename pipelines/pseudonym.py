"""Pseudonymous household keys: household_key = lowercase hex HMAC-SHA256 of household_id
(UTF-8) under a secret, computed with Spark built-ins (HMAC is two SHA-256 passes over
padded keys, RFC 2104), so no ID leaves the JVM for Python.

The secret comes from LIPMON_PSEUDONYM_KEY, else from the configured key file; with
neither, a random key file readable by its owner only is created once and reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

from pipelines.storage import Location, is_remote

log = logging.getLogger(__name__)

ENV_KEY = "LIPMON_PSEUDONYM_KEY"
BLOCK = 64  # SHA-256 block size in bytes


def hmac_sha256_hex(message: Column, key: bytes) -> Column:
    """HMAC-SHA256(key, UTF-8 bytes of message) as lowercase hex."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\x00")
    inner_pad = bytes(b ^ 0x36 for b in key)
    outer_pad = bytes(b ^ 0x5C for b in key)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), F.encode(message, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)


def fingerprint(key: bytes) -> str:
    """Identifies a key in manifests without revealing it."""
    return hashlib.sha256(b"lipmon-pseudonym-key-fingerprint:" + key).hexdigest()[:16]


def load_key(key_file: Location) -> bytes:
    """The pseudonymisation secret (its UTF-8 bytes)."""
    from_env = os.environ.get(ENV_KEY)
    if from_env:
        return from_env.encode("utf-8")
    if key_file.exists():
        key = key_file.read_text(encoding="utf-8").strip()
        if not key:
            raise ValueError(f"pseudonym key file {key_file} is empty")
        return key.encode("utf-8")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    new_key = secrets.token_hex(32) + "\n"
    if is_remote(key_file):
        key_file.write_bytes(new_key.encode("utf-8"), durable=True, permission="600")
    else:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_key)
    log.warning(
        "created a new pseudonym key in %s (owner-readable only); keep it: household keys depend on it", key_file
    )
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def spot_number(household_id: Column, key: bytes, as_of: date) -> Column:
    """The household's spot-check number for D's month, in [0, 1): the first 8 hex digits
    of HMAC-SHA256(key, "spot-check|YYYY-MM|household_id") as an integer / 2^32. The same
    all month, a fresh draw the next, unpredictable without the key."""
    message = F.concat(F.lit(f"spot-check|{as_of:%Y-%m}|"), household_id)
    return F.conv(F.substring(hmac_sha256_hex(message, key), 1, 8), 16, 10).cast("long") / float(2**32)
