"""The one HTTP host of the process: every route (webhook, health, metrics, web pages) is served by it."""
