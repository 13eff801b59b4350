"""Delivery: the outbox sender, its rate budget, the error matrix and the channel adapters.

``limits`` (the rate budget and ``ChannelLimits``; Telegram's numbers are its ``TELEGRAM`` object),
``errors`` (the error matrix), ``channel`` (the adapter interface), ``sender`` (one lane per channel:
claims, sends, records, recovers) and ``hooks`` call no network; ``telegram`` holds the Telegram
adapter, the PTB rate limiter and the background component, and is the only module under ``bot/``
that imports ``telegram``. The other adapters live with their channels (``wechat.delivery``,
``web.channel``).
"""
