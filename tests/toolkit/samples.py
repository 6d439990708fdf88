"""Sample files of every kind the toolkit takes, and some it refuses, made in memory (DEMO content)."""

import io
import zipfile

from openpyxl import Workbook

PDF = b"%PDF-1.4\n% DEMO\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = "Modello DEMO di convenzione tra Ambiti – art. 55 del Codice del Terzo Settore.\n".encode()
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256)) * 4
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200


def zipped(entries: dict[str, bytes], first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if first:
            archive.writestr(first, entries[first], compress_type=zipfile.ZIP_STORED)
        for name, content in entries.items():
            if name != first:
                archive.writestr(name, content)
    return buffer.getvalue()


def docx() -> bytes:
    return zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def odt() -> bytes:
    return zipped({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"},
                  first="mimetype")


def ods() -> bytes:
    return zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<office/>"},
                  first="mimetype")


def xlsx() -> bytes:
    book = Workbook()
    book.active["A1"] = "DEMO"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def other_zip() -> bytes:
    return zipped({"setup.exe": EXECUTABLE, "readme.txt": TEXT})
