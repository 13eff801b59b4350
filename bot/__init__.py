"""Mobile Branch (流动党员之家): the application core, free of Telegram types."""
