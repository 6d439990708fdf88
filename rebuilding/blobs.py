"""Files kept by their content: the platform's blob store.

A file is stored once, under the SHA-256 of its bytes, and is read back only after its
bytes are hashed again and found to match. The gateway streams uploads into the store and
downloads out of it; services hold only the hash, size, type and name (the toolkit's
documents, for one). Nothing here keeps a whole file in memory.

The interface (``BlobStore``) is small on purpose, so that another backend can take the
place of ``LocalBlobStore``:

- ``incoming(limit)``: a sink to ``write`` an upload into, chunk by chunk; it hashes and
  counts as it goes and raises ``TooLarge`` past ``limit`` bytes. Then ``commit()`` keeps
  it (once, by its hash) or ``discard()`` drops it: a file refused leaves nothing stored.
- ``open_verified(sha256)``: the stored file, open for reading, after its content was
  hashed and found to be ``sha256``; ``Corrupt`` when it is not, ``Missing`` when it is gone.

``LocalBlobStore`` keeps files on the local disk, under ``REBUILDING_BLOB_DIR`` (by default
``<state dir>/blobs``): enough for one machine, or for several that share that directory.
For a deployment on several machines without a shared disk, an S3-compatible object store
(MinIO) is the path: a backend whose ``incoming`` uploads in parts (multipart upload) to a
temporary key and copies it to ``sha256/<hash>`` on commit, and whose ``open_verified``
streams the object through the same hash check.
"""

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from rebuilding import config
from rebuilding.errors import DomainError, TooLarge

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
CHUNK = 64 * 1024


def max_upload_bytes() -> int:
    """REBUILDING_MAX_UPLOAD_BYTES: the largest file an upload may carry (25 MB by default)."""
    return int(os.environ.get("REBUILDING_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES)


def blob_dir() -> Path:
    configured = os.environ.get("REBUILDING_BLOB_DIR")
    return Path(configured) if configured else config.state_dir() / "blobs"


class Corrupt(DomainError):
    """A stored file whose bytes no longer hash to its name: it is never served."""

    status = 500
    code = "corrupt_file"


class Missing(DomainError):
    status = 500
    code = "missing_file"


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int


class Incoming(Protocol):
    size: int

    def write(self, chunk: bytes) -> int: ...

    def reader(self) -> BinaryIO: ...

    def commit(self) -> StoredBlob: ...

    def discard(self) -> None: ...


class BlobStore(Protocol):
    def incoming(self, limit: int) -> Incoming: ...

    def open_verified(self, sha256: str) -> BinaryIO: ...


class LocalIncoming:
    """An upload being written to a temporary file beside the store, hashed as it arrives."""

    def __init__(self, store: "LocalBlobStore", limit: int):
        self.store, self.limit = store, limit
        self.size = 0
        self.hash = hashlib.sha256()
        store.tmp.mkdir(parents=True, exist_ok=True)
        self.file = tempfile.NamedTemporaryFile(dir=store.tmp, prefix="upload-", delete=False)
        self.done = False

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise TooLarge(f"the file is larger than the limit of {self.limit} bytes",
                           {"file": [f"at most {self.limit} bytes"]})
        self.hash.update(chunk)
        return self.file.write(chunk)

    # the multipart parser treats the sink as a file
    def seek(self, *args) -> int:
        return self.file.seek(*args)

    def reader(self) -> BinaryIO:
        """The bytes received so far, to inspect before keeping them."""
        self.file.flush()
        return open(self.file.name, "rb")

    def commit(self) -> StoredBlob:
        self.file.close()
        digest = self.hash.hexdigest()
        target = self.store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(self.file.name)  # stored once: the same bytes are already there
        else:
            os.replace(self.file.name, target)
        self.done = True
        return StoredBlob(digest, self.size)

    def discard(self) -> None:
        if not self.done:
            self.file.close()
            try:
                os.unlink(self.file.name)
            except FileNotFoundError:
                pass
            self.done = True


class LocalBlobStore:
    """Files on a local (or shared) disk: ``<root>/sha256/ab/cd/<hash>``; uploads in progress in ``<root>/tmp``."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else blob_dir()
        self.tmp = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def incoming(self, limit: int) -> LocalIncoming:
        return LocalIncoming(self, limit)

    def open_verified(self, sha256: str) -> BinaryIO:
        try:
            file = open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise Missing(f"the stored file {sha256} is missing", {"sha256": sha256}) from None
        digest = hashlib.sha256()
        while chunk := file.read(CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            file.close()
            raise Corrupt(f"the stored file {sha256} no longer matches its SHA-256: it is not served",
                          {"sha256": sha256, "found": digest.hexdigest()})
        file.seek(0)
        return file

    def stored(self) -> list[str]:
        """Every hash stored: for tests and operators."""
        base = self.root / "sha256"
        return sorted(p.name for p in base.glob("*/*/*")) if base.exists() else []

    def pending(self) -> list[str]:
        return sorted(p.name for p in self.tmp.iterdir()) if self.tmp.exists() else []


def blob_store_from_config() -> BlobStore:
    return LocalBlobStore()
