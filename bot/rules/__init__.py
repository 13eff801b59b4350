"""Pure business rules (dues, dates, phones, input checks): no Telegram, no database, no user-facing text."""
