"""Storage: SQLAlchemy 2 models, the engine and sessions, query helpers and Alembic migrations."""
