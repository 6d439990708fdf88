"""The gateway's web pages, in Italian, with Bootstrap Italia: server-rendered (Jinja2), working without JavaScript.

``routes.PagesRoutes`` serves them beside the API, over the same operations: a page calls an API
operation's handler with the ``Access`` its row in ``authorisation.MATRIX`` grants the signed-in
person (``operations.perform``), so a page shows and does only what the API would let them.
"""
