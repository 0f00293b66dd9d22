"""The ``ostiary`` command line: thin typer commands over the store and domain packages."""
