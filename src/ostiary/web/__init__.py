"""The HTTP composition root: app factory, routers, pages, error rendering."""
