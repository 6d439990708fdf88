"""Files by their content: the blob store keeps each once, by its SHA-256, and never serves one that changed;
a file's type is read from its bytes, whatever its name."""

import hashlib
import io

import pytest

from rebuilding import filetypes
from rebuilding.blobs import Corrupt, LocalBlobStore, Missing, TooLarge
from tests.toolkit import samples


def stored(store: LocalBlobStore, content: bytes, limit: int = 10_000_000):
    incoming = store.incoming(limit)
    for start in range(0, len(content), 1000):
        incoming.write(content[start:start + 1000])
    return incoming.commit()


def test_a_file_is_stored_once_under_its_sha256_and_read_back_after_its_hash_is_checked(tmp_path):
    store = LocalBlobStore(tmp_path)
    first, again = stored(store, samples.PDF), stored(store, samples.PDF)
    assert first.sha256 == again.sha256 == hashlib.sha256(samples.PDF).hexdigest()
    assert first.size == len(samples.PDF)
    assert store.stored() == [first.sha256] and store.pending() == []
    with store.open_verified(first.sha256) as file:
        assert file.read() == samples.PDF


def test_an_upload_past_the_limit_is_refused_while_it_is_written_and_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path)
    incoming = store.incoming(limit=2500)
    incoming.write(b"x" * 2000)
    with pytest.raises(TooLarge):
        incoming.write(b"x" * 1000)
    incoming.discard()
    assert store.stored() == [] and store.pending() == []


def test_a_discarded_upload_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path)
    incoming = store.incoming(limit=100_000)
    incoming.write(samples.EXECUTABLE)
    incoming.discard()
    assert store.stored() == [] and store.pending() == []


def test_a_stored_file_altered_on_disk_is_refused_and_a_missing_one_too(tmp_path):
    store = LocalBlobStore(tmp_path)
    blob = stored(store, samples.TEXT)
    path = store.path(blob.sha256)
    path.write_bytes(samples.TEXT.replace(b"55", b"56"))
    with pytest.raises(Corrupt) as refused:
        store.open_verified(blob.sha256)
    assert refused.value.details["found"] == hashlib.sha256(samples.TEXT.replace(b"55", b"56")).hexdigest()
    path.unlink()
    with pytest.raises(Missing):
        store.open_verified(blob.sha256)


@pytest.mark.parametrize("content, expected", [
    (samples.PDF, filetypes.PDF),
    (samples.TEXT, filetypes.TEXT),
    (samples.docx(), filetypes.DOCX),
    (samples.xlsx(), filetypes.XLSX),
    (samples.odt(), filetypes.ODT),
    (samples.ods(), filetypes.ODS),
])
def test_each_allowed_type_is_recognised_from_its_content(content, expected):
    assert filetypes.detect(io.BytesIO(content)) == expected


@pytest.mark.parametrize("content", [
    samples.EXECUTABLE, samples.ELF, samples.other_zip(), b"PK\x03\x04 not really a zip", b"",
    b"text with a NUL\x00 inside", "testo in latin-1: perch\xe9".encode("latin-1"),
])
def test_executables_archives_and_binary_data_are_not_recognised(content):
    assert filetypes.detect(io.BytesIO(content)) is None
