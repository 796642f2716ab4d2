"""PostgreSQL with a client-side deadline (see base.py)."""
