"""Use cases over a database session; they return plain results and never call Telegram."""
