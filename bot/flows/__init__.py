"""Features as objects: each module here exports one `Feature` with the flows it plugs into the core.

A flow handler takes a `Turn` (session, actor, inbound event, time) and returns a `Reply`; it calls
one service. The composition root (``app/features.py``) lists the features in order.
"""
