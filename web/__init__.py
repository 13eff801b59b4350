"""The web chat channel (an adapter of the conversation core), its page and the try-out demo."""
