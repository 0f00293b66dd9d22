"""The admin console (issue 9): server-rendered pages under /console.

``guard`` authenticates every request and enforces role, second factor, CSRF and
re-authentication; one module per area renders its pages; ``routes`` gathers them.
See docs/console.md.
"""
