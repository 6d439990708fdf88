"""Multipart bodies written to disk and sent from there, so that the client holds no upload in memory."""

import os
import uuid
from pathlib import Path

CHUNK = 1024 * 1024


def write_form(path: Path, fields: dict, filename: str, content: bytes = b"", filler: int = 0) -> tuple[Path, str]:
    """A multipart/form-data body: ``fields`` (a list value as repeated fields) and a file of ``content``,
    followed by ``filler`` bytes of text; returns the body's path and its Content-Type."""
    boundary = uuid.uuid4().hex
    with open(path, "wb") as body:
        for name, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
                body.write(str(item).encode() + b"\r\n")
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                   "Content-Type: application/octet-stream\r\n\r\n".encode())
        body.write(content)
        line = b"Testo DEMO della cassetta degli attrezzi.\n" * (CHUNK // 42)
        while filler > 0:
            body.write(line[:filler])
            filler -= min(filler, len(line))
        body.write(f"\r\n--{boundary}--\r\n".encode())
    return path, f"multipart/form-data; boundary={boundary}"


def post_form(client, url_path: str, form: tuple[Path, str]):
    path, content_type = form
    with open(path, "rb") as body:
        return client.request("POST", url_path, data=body,
                              headers={"Content-Type": content_type, "Content-Length": str(os.path.getsize(path))})
