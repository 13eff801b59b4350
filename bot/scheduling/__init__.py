"""Scheduling: the one-minute reminder tick (see `bot.scheduling.engine` for how to add a reminder kind)."""
