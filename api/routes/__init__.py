"""One router per resource: search, catalogs (and their items), health."""
