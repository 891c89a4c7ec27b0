"""The build cache: the vectors of each block of texts a build has embedded, made durable as each
block is done and kept until the build's next generation is committed, so that a build killed
mid-way embeds nothing twice when run again.

One file in the index folder, named for the settings that shape the index (`Settings.index_shape`):

    build-cache-<shape>.bin   header: MAGIC, a 4-byte length, JSON {"shape": ..., "dimension": ...}
                              then one record a block: the block's key (SHA-256 of its texts),
                              vector count and CRC-32 (4 bytes each, little-endian), and the vectors
                              (count × dimension float32)

A record is appended and flushed to disk (fsync) once its block is embedded. A record cut short or
damaged (a kill or a power cut while it was written) ends the file: it and what follows are
dropped when the cache is opened. The cache is emptied when a generation is committed (its vectors
are then in a segment) and removed when the build completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from qa.config import Settings

MAGIC = b"QA-BUILD-CACHE-1"
_RECORD = struct.Struct("<32sII")  # key, vector count, CRC-32 of the key, count and vectors


def block_key(texts: list[str]) -> bytes:
    """The key of a block that embeds `texts`, in this order."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", errors="surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


def cache_path(index_dir: Path, settings: Settings) -> Path:
    """The build cache of an index of `settings`' shape in `index_dir`."""
    shape = json.dumps(settings.index_shape(), sort_keys=True).encode()
    return Path(index_dir) / f"build-cache-{hashlib.sha256(shape).hexdigest()[:16]}.bin"


def remove_build_caches(index_dir: Path) -> None:
    """Remove the build caches in `index_dir`, of any shape."""
    for path in Path(index_dir).glob("build-cache-*.bin"):
        path.unlink(missing_ok=True)


class BuildCache:
    """The build cache of `settings`' shape in `index_dir`, opened for a build: the records there
    read back (a damaged tail dropped), caches of other shapes removed."""

    def __init__(self, index_dir: Path, settings: Settings, dimension: int) -> None:
        self.path = cache_path(index_dir, settings)
        for other in Path(index_dir).glob("build-cache-*.bin"):
            if other != self.path:  # a killed build of another shape: its vectors will not be asked for
                other.unlink(missing_ok=True)
        self._dimension = dimension
        self._header = self._header_bytes(settings, dimension)
        self._blocks: dict[bytes, tuple[int, int]] = {}  # key → (offset of its vectors, count)
        # Never through a link: a file it points to is not ours to truncate.
        if self.path.is_symlink():
            self.path.unlink()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        self._file = os.fdopen(fd, "a+b")
        try:
            self._read_back()
        except BaseException:
            self._file.close()
            raise

    @staticmethod
    def _header_bytes(settings: Settings, dimension: int) -> bytes:
        facts = json.dumps({"shape": settings.index_shape(), "dimension": dimension}, sort_keys=True).encode()
        return MAGIC + len(facts).to_bytes(4, "little") + facts

    def _read_back(self) -> None:
        f = self._file
        f.seek(0)
        if f.read(len(self._header)) != self._header:
            self._truncate(0)
            f.write(self._header)
            self._flush()
            return
        end = len(self._header)
        width = self._dimension * 4
        while True:
            head = f.read(_RECORD.size)
            if len(head) < _RECORD.size:
                break
            key, count, crc = _RECORD.unpack(head)
            vectors = f.read(count * width)
            if len(vectors) < count * width or zlib.crc32(vectors, zlib.crc32(head[:36])) != crc:
                break
            self._blocks[key] = (end + _RECORD.size, count)
            end += _RECORD.size + len(vectors)
        if end != os.fstat(f.fileno()).st_size:
            self._truncate(end)

    def __len__(self) -> int:
        """Blocks held."""
        return len(self._blocks)

    def vectors(self, key: bytes) -> np.ndarray | None:
        """The vectors recorded for the block `key`, or None."""
        if key not in self._blocks:
            return None
        offset, count = self._blocks[key]
        data = os.pread(self._file.fileno(), count * self._dimension * 4, offset)
        return np.frombuffer(data, dtype=np.float32).reshape(count, self._dimension)

    def add(self, key: bytes, vectors: np.ndarray) -> None:
        """Record the vectors of block `key`, on disk before this returns."""
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        head = struct.pack("<32sI", key, len(vectors))
        f = self._file
        f.seek(0, os.SEEK_END)
        offset = f.tell()
        f.write(head + struct.pack("<I", zlib.crc32(data, zlib.crc32(head))) + data)
        self._flush()
        self._blocks[key] = (offset + _RECORD.size, len(vectors))

    def clear(self) -> None:
        """Forget every block: their vectors are committed in a segment now."""
        self._truncate(len(self._header))
        self._blocks.clear()

    def remove(self) -> None:
        """Close the cache and remove its file: the build is complete."""
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()

    def _truncate(self, size: int) -> None:
        self._file.truncate(size)
        self._flush()

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
