"""Persistence: the only package that imports SQLAlchemy. Tables, repositories, migrations."""
