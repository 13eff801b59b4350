"""Delivery: the outbox sender, its rate budget, the error matrix and the channel adapters.

``limits`` (the shared rate budget), ``errors`` (the error matrix), ``channel`` (the adapter
interface), ``sender`` (claims, sends, records, recovers) and ``hooks`` know nothing of Telegram;
``telegram`` holds the Telegram adapter, the PTB rate limiter and the background component, and is
the only module under ``bot/`` that imports ``telegram``.
"""
