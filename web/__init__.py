"""The web page: search by screenshot and browse catalogs, in a browser, over the public HTTP API.

The app includes ``router`` with one line; the page's scripts talk to ``/v1`` like any client,
so this package knows nothing of the pipeline behind it.
"""

from web.pages import router

__all__ = ["router"]
