"""Where the lake lives: a local folder, or any Hadoop-compatible URI (`hdfs://`, `s3a://`,
`abfs://`, `viewfs://`, ...).

A local lake is a `pathlib.Path`. A lake at a URI is a `HadoopPath`: the same small part of
the `Path` interface that lipmon uses (`/`, `name`, `exists`, `glob`, `read_text`, ...),
carried out by Hadoop's FileSystem API in the driver's JVM, so the driver's own reads and
writes (manifests, markers, ledgers, renames) go to the same storage, with the same
configuration (`HADOOP_CONF_DIR`, `spark.hadoop.*`), as Spark's.
The helpers below (`listing`, `rename`, `replace`, `rmtree`, `write_atomically`,
`local_copy`, ...) take either kind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from urllib.parse import urlsplit

from typing_extensions import TypeIs


def lake_location(value: str | os.PathLike | HadoopPath) -> Location:
    """A lake given on the command line or in the environment: a URI with a scheme other
    than `file` is a HadoopPath; anything else is an absolute local path."""
    if isinstance(value, HadoopPath):
        return value
    text = os.fspath(value)
    scheme = urlsplit(text).scheme
    if scheme == "file":
        return Path(urlsplit(text).path).absolute()
    if len(scheme) > 1:  # one letter would be a Windows drive
        return HadoopPath(text)
    return Path(text).absolute()


def is_remote(path: object) -> TypeIs[HadoopPath]:
    return isinstance(path, HadoopPath)


class HadoopPath:
    """A file or folder at a Hadoop filesystem URI."""

    __slots__ = ("uri",)

    def __init__(self, uri: str):
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"{uri!r} is not a URI with a scheme")
        self.uri = uri if parts.path in ("", "/") else uri.rstrip("/")

    # ------------------------------------------------------------ the path itself
    def __truediv__(self, other) -> HadoopPath:
        child = str(other).strip("/")
        return HadoopPath(f"{self.uri.rstrip('/')}/{child}") if child else self

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"HadoopPath({self.uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, HadoopPath) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __lt__(self, other: HadoopPath) -> bool:
        return self.uri < other.uri

    @property
    def name(self) -> str:
        return PurePosixPath(urlsplit(self.uri).path).name

    @property
    def parent(self) -> HadoopPath:
        head, _, _ = self.uri.rstrip("/").rpartition("/")
        return HadoopPath(head if urlsplit(head).path else head + "/")

    def with_name(self, name: str) -> HadoopPath:
        return self.parent / name

    def relative_to(self, other: HadoopPath) -> PurePosixPath:
        base = other.uri.rstrip("/") + "/"
        if not self.uri.startswith(base):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.uri[len(base) :])

    # ------------------------------------------------------------ the filesystem
    def _path(self):
        return _jvm().org.apache.hadoop.fs.Path(self.uri)

    def _fs(self):
        return self._path().getFileSystem(_hadoop_conf())

    def _status(self):
        fs, path = self._fs(), self._path()
        return fs.getFileStatus(path) if fs.exists(path) else None

    def exists(self) -> bool:
        return bool(self._fs().exists(self._path()))

    def is_dir(self) -> bool:
        status = self._status()
        return status is not None and status.isDirectory()

    def stat(self) -> SimpleNamespace:
        status = self._status()
        if status is None:
            raise FileNotFoundError(self.uri)
        return SimpleNamespace(st_size=status.getLen())

    def glob(self, pattern: str) -> Iterator[HadoopPath]:
        """Hadoop's glob (`*`, `?`, `[...]`, `{a,b}`) of a pattern relative to this folder."""
        depth = len(PurePosixPath(pattern).parts)
        found = self._fs().globStatus(_jvm().org.apache.hadoop.fs.Path(f"{self.uri.rstrip('/')}/{pattern}"))
        for status in found or []:
            tail = PurePosixPath(status.getPath().toUri().getPath()).parts[-depth:]
            yield self / "/".join(tail)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if self.exists() and not exist_ok:
            raise FileExistsError(self.uri)
        if not parents and not self.parent.is_dir():
            raise FileNotFoundError(f"{self.parent} does not exist")
        self._fs().mkdirs(self._path())

    def unlink(self, missing_ok: bool = False) -> None:
        if not self._fs().delete(self._path(), False) and not missing_ok:
            raise FileNotFoundError(self.uri)

    def read_bytes(self) -> bytes:
        if not self.exists():
            raise FileNotFoundError(self.uri)
        stream = self._fs().open(self._path())
        try:
            return bytes(stream.readAllBytes())
        finally:
            stream.close()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def read_tail(self, length: int) -> bytes:
        """The last `length` bytes."""
        start = self.stat().st_size - length
        stream = self._fs().open(self._path())
        try:
            stream.seek(start)
            return bytes(stream.readNBytes(length))
        finally:
            stream.close()

    def write_bytes(self, data: bytes, *, durable: bool = False, permission: str | None = None) -> None:
        """Create or overwrite the file; `durable` waits until the data is on disk
        (hsync); `permission` is an octal mode such as "600", set before any data is written."""
        jvm = _jvm()
        fs, path = self._fs(), self._path()
        if permission is not None:
            stream = fs.create(
                path,
                jvm.org.apache.hadoop.fs.permission.FsPermission(permission),
                True,
                1 << 16,
                fs.getDefaultReplication(path),
                fs.getDefaultBlockSize(path),
                None,
            )
        else:
            stream = fs.create(path, True)
        try:
            stream.write(bytearray(data))
            if durable:
                stream.hsync()
        finally:
            stream.close()

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def create_new(self, data: bytes) -> bool:
        """Create the file only if it does not exist (one NameNode operation on HDFS);
        False if it exists."""
        fs, path = self._fs(), self._path()
        try:
            stream = fs.create(path, False)
        except Exception as exc:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(exc) or fs.exists(path):
                return False
            raise
        try:
            stream.write(bytearray(data))
            stream.hsync()
        finally:
            stream.close()
        return True

    def restrict(self) -> None:
        """Readable by the owner only (mode 700 for a folder, 600 for a file)."""
        jvm = _jvm()
        fs, path = self._fs(), self._path()
        mode = "700" if fs.getFileStatus(path).isDirectory() else "600"
        fs.setPermission(path, jvm.org.apache.hadoop.fs.permission.FsPermission(mode))


Location = Path | HadoopPath


# ---------------------------------------------------------------- operations on either kind


def rename(source: Location, target: Location) -> None:
    """Rename a file or folder to a name that does not exist yet."""
    if not is_remote(source):
        assert not is_remote(target), f"{source} and {target} are on different filesystems"
        os.rename(source, target)
        return
    assert is_remote(target), f"{source} and {target} are on different filesystems"
    if not source._fs().rename(source._path(), target._path()):
        raise OSError(f"could not rename {source} to {target} (does the target exist?)")


def replace(source: Location, target: Location) -> None:
    """Rename a file over another: atomic on local filesystems and HDFS (FileContext's
    rename with OVERWRITE); a copy and a delete on object stores."""
    if not is_remote(source):
        assert not is_remote(target), f"{source} and {target} are on different filesystems"
        os.replace(source, target)
        return
    assert is_remote(target), f"{source} and {target} are on different filesystems"
    jvm = _jvm()
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(target._path().toUri(), _hadoop_conf())
    options = _gateway().new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    options[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    context.rename(source._path(), target._path(), options)


def rmtree(path: Location) -> None:
    """Delete a folder and everything in it; no error if it is not there."""
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    path._fs().delete(path._path(), True)


def create_new(path: Location, data: bytes) -> bool:
    """Create a file with `data` only if no file of that name exists, atomically (one
    exclusive create); False if one exists. What two processes racing for the name agree on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(path):
        return path.create_new(data)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def restrict(path: Location) -> None:
    """Make a folder or file readable by its owner only (700 / 600)."""
    if is_remote(path):
        path.restrict()
    else:
        path.chmod(0o700 if path.is_dir() else 0o600)


def glob(folder: Location, pattern: str) -> list[Location]:
    """What matches a pattern in a folder, sorted by name."""
    found: list[Location] = list(folder.glob(pattern))
    return sorted(found, key=lambda p: p.name)


def relative(path: Location, root: Location) -> str:
    """`path` relative to `root` (both of one kind), as a POSIX path."""
    if is_remote(path):
        assert is_remote(root)
        return path.relative_to(root).as_posix()
    assert not is_remote(root)
    return path.relative_to(root).as_posix()


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int  # bytes of a file; 0 for a folder


def listing(path: Location) -> list[Entry]:
    """What a folder holds, names, kinds and sizes from one listing (on an object store,
    one request rather than one per entry); nothing if the folder is not there."""
    if is_remote(path):
        fs, folder = path._fs(), path._path()
        if not fs.exists(folder):
            return []
        return [
            Entry(s.getPath().getName(), bool(s.isDirectory()), 0 if s.isDirectory() else int(s.getLen()))
            for s in fs.listStatus(folder)
        ]
    try:
        with os.scandir(path) as entries:
            return [Entry(e.name, e.is_dir(), 0 if e.is_dir() else e.stat().st_size) for e in entries]
    except (FileNotFoundError, NotADirectoryError):
        return []


def write_atomically(path: Location, data: bytes, *, durable: bool) -> None:
    """A temporary file beside the target, renamed over it: after a crash the file is
    there whole or not at all. `durable` also flushes the data (and on a local disk, the
    folder entry) before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    if is_remote(path):
        remote_tmp = path.with_name(tmp_name)
        remote_tmp.write_bytes(data, durable=durable)
        replace(remote_tmp, path)
        return
    tmp = path.with_name(tmp_name)
    with open(tmp, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read_lines(path: Location) -> Iterator[str]:
    """The lines of a UTF-8 text file."""
    if is_remote(path):
        yield from path.read_text(encoding="utf-8").splitlines()
        return
    with open(path, encoding="utf-8") as lines:
        yield from lines


def parquet_rows(path: Location) -> int:
    """Rows of one Parquet file, from its footer (no data is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not is_remote(path):
        return pq.read_metadata(path).num_rows
    footer_length = int.from_bytes(path.read_tail(8)[:4], "little")
    footer = path.read_tail(footer_length + 8)
    # The footer alone, between the two magic numbers, is a Parquet file's metadata.
    return pq.read_metadata(pa.BufferReader(b"PAR1" + footer)).num_rows


@contextlib.contextmanager
def local_copy(path: Location, *, fetch: bool = True) -> Iterator[Path]:
    """A local folder standing for `path`, for tools that only write local files (Great
    Expectations' Data Docs, the transcoder). A local path is itself. A remote one is
    fetched into a temporary folder (unless `fetch` is false) and put back, replacing
    what was there, when the block ends without an error."""
    if not is_remote(path):
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    work = Path(tempfile.mkdtemp(prefix="lipmon-"))
    try:
        local = work / path.name
        if fetch and path.exists():
            path._fs().copyToLocalFile(False, path._path(), _local_uri(local), True)
        local.mkdir(exist_ok=True)
        yield local
        rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path._fs().copyFromLocalFile(False, True, _local_uri(local), path._path())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _local_uri(path: Path):
    return _jvm().org.apache.hadoop.fs.Path(path.absolute().as_uri())


# ---------------------------------------------------------------- the driver's JVM


def _context():
    """The running SparkContext's JVM; without one (the flow's own process when steps go
    through spark-submit), a JVM gateway alone, with Spark's jars and Hadoop configuration."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is None and SparkContext._gateway is None:
        from pipelines.spark import find_java_home

        os.environ.setdefault("JAVA_HOME", str(find_java_home()))
        SparkContext._ensure_initialized()
    return SparkContext


def _jvm():
    return _context()._jvm


def _gateway():
    return _context()._gateway


def _hadoop_conf():
    context = _context()
    active = context._active_spark_context
    if active is not None:
        return active._jsc.hadoopConfiguration()
    global _gateway_conf
    if _gateway_conf is None:
        # As Spark builds it: core-site.xml and friends from HADOOP_CONF_DIR, plus spark.hadoop.*.
        from pyspark import SparkConf

        jvm = context._jvm
        _gateway_conf = jvm.org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(SparkConf(_jvm=jvm)._jconf)
    return _gateway_conf


_gateway_conf = None
