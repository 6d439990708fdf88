"""A page's file upload: streamed as the API streams it, its CSRF token checked before anything is kept.

``request.form`` must not read an upload: werkzeug would spool the whole file by its own rules, and the
API's handler would find the body consumed. So a ``streamed`` page (``routes.web_page``) hands its body to
``received``, which streams it through the API's own ``toolkit_routes.receive_upload`` into the blob
store's sink (hashed and counted against the limit as it arrives, nothing kept yet), puts the form's fields
in ``request.form`` so that ``session.Csrf.check`` and ``form_key`` read them as for any form, checks the
token, and only then leaves the upload, its fields under the API's names, for the API's handler
(``toolkit_routes.RECEIVED``), which keeps the file once the fields and the file's type are valid.
Whatever the handler did not keep is dropped on the way out.
"""

from contextlib import contextmanager

from werkzeug.datastructures import MultiDict

from rebuilding import blobs
from rebuilding.errors import TooLarge
from services.gateway.pages import session
from services.gateway.toolkit_routes import RECEIVED, receive_upload

PAGE_FIELDS = (session.CSRF_FIELD, "chiave")
"""The page's own fields, which the API does not take."""


class Upload:
    """What a page received: the form's fields as sent (``form``), and the file, not yet kept."""

    def __init__(self, request, form: MultiDict, filename: str | None, incoming):
        self.request, self.form, self.filename, self.incoming = request, form, filename, incoming

    def hand_over(self, names: dict[str, str], lines: tuple[str, ...] = ()) -> None:
        """Leave the upload for the API's handler the page calls next (``ctx.perform``), as ``receive_upload``
        answers it, the fields under the API's names: ``names`` maps the page's to the API's; a field in
        ``lines`` gives one value a line; an empty value is left out, as if the field were not sent."""
        fields = MultiDict()
        for page_name, api_name in names.items():
            values = [v for value in self.form.getlist(page_name) for v in
                      (value.splitlines() if page_name in lines else [value])]
            for value in (v.strip() for v in values):
                if value:
                    fields.add(api_name, value)
        self.request.environ[RECEIVED] = (fields, self.filename, self.incoming)


class _Capped:
    """The store's sink, which past the limit drops the file's bytes instead of ending the parse, so that
    the form's other fields are still read and shown again; the file is then refused (``too_large``).
    The API's limit on the whole body bounds what is read: never more than the limit and the fields."""

    def __init__(self, incoming):
        self.incoming, self.too_large = incoming, None

    def write(self, chunk: bytes) -> int:
        if self.too_large is None:
            try:
                return self.incoming.write(chunk)
            except TooLarge as error:
                self.too_large = error
        return len(chunk)

    def seek(self, *args) -> int:
        return 0 if self.too_large else self.incoming.seek(*args)  # a sink past its limit is closed

    def __getattr__(self, name):  # size, reader, commit, discard
        return getattr(self.incoming, name)


class _CappedStore:
    def __init__(self, store):
        self.store = store

    def incoming(self, limit: int) -> _Capped:
        return _Capped(self.store.incoming(limit))


@contextmanager
def received(ctx):
    """The POST's upload, its CSRF token checked; ``Upload.hand_over`` leaves it for the API's handler.

    Raises the API's errors for a body it refuses (413, 400: nothing kept), with the fields read so far
    in ``ctx.request.form`` when there are some, and ``Forbidden`` for a missing or wrong token.
    """
    request = ctx.request
    try:
        form, filename, incoming = receive_upload(request, _CappedStore(ctx.service.blobs),
                                                  blobs.max_upload_bytes())
    except BaseException:
        request.form = MultiDict()
        raise
    try:
        request.form = form
        session.Csrf.check(request)
        if incoming.too_large is not None:
            raise incoming.too_large
        yield Upload(request, form, filename, incoming)
    finally:
        incoming.discard()
        request.environ.pop(RECEIVED, None)

