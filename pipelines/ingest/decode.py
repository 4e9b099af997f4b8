"""Reading a delivered file's bytes on the driver before Spark sees it: the header must
match the contract, every byte must decode in the contract's encoding, and the lines are
counted independently of Spark. Files not in UTF-8 (GB18030) are transcoded to a UTF-8
copy that Spark reads; UTF-8 files are read where they lie.

A failure here stops the whole delivery with a message naming the file and the problem.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from pipelines.contracts import Contract
from pipelines.storage import Location

CHUNK_BYTES = 8 * 1024 * 1024
UTF8_NAMES = {"utf-8", "utf_8", "utf8", "utf-8-sig", "utf_8_sig"}


class DeliveryError(RuntimeError):
    """A delivery that cannot be read as its contract says; nothing of it is landed."""


@dataclass(frozen=True)
class CheckedFile:
    name: str  # the delivered file's name (unique within its delivery)
    readable_path: Location  # UTF-8 text that Spark reads: the file itself or a transcoded copy
    data_lines: int  # lines after the header, counted here, independently of Spark
    header: tuple[str, ...]  # the header as delivered


class _LineCounter:
    """Counts lines the way Hadoop's line reader splits them: \\n, \\r\\n or a lone \\r."""

    def __init__(self) -> None:
        self.terminators = 0
        self.last_char = ""
        self.any_text = False

    def feed(self, text: str) -> None:
        if not text:
            return
        self.any_text = True
        self.terminators += text.count("\n") + text.count("\r") - text.count("\r\n")
        if self.last_char == "\r" and text[0] == "\n":
            self.terminators -= 1
        self.last_char = text[-1]

    @property
    def lines(self) -> int:
        if not self.any_text:
            return 0
        return self.terminators + (0 if self.last_char in "\r\n" else 1)


def check_and_decode(path: Path, contract: Contract, staging: Path) -> CheckedFile:
    """Validate one delivered file; returns where Spark should read it from."""
    encoding = contract.delivery.encoding
    is_utf8 = encoding.lower().replace("_", "-") in {n.replace("_", "-") for n in UTF8_NAMES}
    decoder = codecs.getincrementaldecoder("utf-8-sig" if is_utf8 else encoding)(errors="strict")
    counter = _LineCounter()
    out = None
    if not is_utf8:
        staging.mkdir(parents=True, exist_ok=True)
        out = open(staging / path.name, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in finally)
    head = ""  # the decoded text up to the first line break: the header
    consumed = 0
    newline_bytes_seen = 0
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(CHUNK_BYTES)
                final = not chunk
                try:
                    text = decoder.decode(chunk, final=final)
                except UnicodeDecodeError as exc:
                    offset = consumed + exc.start
                    line = newline_bytes_seen + chunk[: exc.start].count(b"\n") + 1
                    raise DeliveryError(
                        f"{path}: cannot decode as {encoding} at line {line} (byte {offset}); "
                        f"the contract says the file is {encoding}"
                    ) from None
                if len(head) < 65536 and "\n" not in head and "\r" not in head:
                    head += text
                counter.feed(text)
                if out is not None:
                    out.write(text)
                if final:
                    break
                consumed += len(chunk)
                newline_bytes_seen += chunk.count(b"\n")
    finally:
        if out is not None:
            out.close()
    header = _parse_header(head.lstrip("\ufeff"), path)
    _check_header(header, contract, path)
    return CheckedFile(
        name=path.name,
        readable_path=(staging / path.name) if out is not None else path,
        data_lines=max(counter.lines - 1, 0),
        header=header,
    )


def _parse_header(text: str, path: Path) -> tuple[str, ...]:
    line = text.splitlines()[0] if text else ""
    if not line.strip():
        raise DeliveryError(f"{path}: no header line (the file is empty or starts with a blank line)")
    return tuple(next(csv.reader([line])))


def _check_header(header: tuple[str, ...], contract: Contract, path: Path) -> None:
    expected = [c.header for c in contract.columns]
    missing = [h for h in expected if h not in header]
    unexpected = [h for h in header if h not in expected]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if not (missing or unexpected or repeated):
        return
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected " + ", ".join(unexpected))
    if repeated:
        parts.append("repeated " + ", ".join(repeated))
    hint = ""
    if len(missing) == len(expected):
        hint = f" (is it a {contract.name} file, in {contract.delivery.encoding}, comma-separated?)"
    raise DeliveryError(f"{path}: header does not match the {contract.name} contract: {'; '.join(parts)}{hint}")


def column_positions(header: tuple[str, ...], contract: Contract) -> list[int]:
    """Position in the delivered header of each contract column (headers may be reordered)."""
    return [header.index(c.header) for c in contract.columns]
