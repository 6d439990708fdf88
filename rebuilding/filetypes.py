"""What a file is, from its content alone: never from its name or the type its sender declared.

The toolkit accepts PDF, the office documents of Word and Excel (DOCX, XLSX) and of
OpenDocument (ODT, ODS), and plain UTF-8 text. A ZIP container is opened and named by
what it holds; an executable, or anything else, is not recognised.
"""

import codecs
import re
import zipfile
from typing import BinaryIO

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
TEXT = "text/plain; charset=utf-8"
ALLOWED = (PDF, DOCX, XLSX, ODT, ODS, TEXT)
EXTENSIONS = {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", ODT: "odt", ODS: "ods", TEXT: "txt"}

_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # tab, line breaks and form feed are text
_CHUNK = 64 * 1024


def detect(file: BinaryIO) -> str | None:
    """The media type of ``file`` (a seekable binary file), among ``ALLOWED``; None for anything else."""
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(file)
    return TEXT if head and _is_text(file) else None


def _zip_type(file: BinaryIO) -> str | None:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                return declared if declared in (ODT, ODS) and "content.xml" in names else None
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return DOCX
                if "xl/workbook.xml" in names:
                    return XLSX
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, RuntimeError, ValueError):
        pass
    return None


def _is_text(file: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(_CHUNK):
            if _NOT_TEXT.search(decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    finally:
        file.seek(0)
