"""The Telegram channel: parse updates, call one service, render a catalogue text, reply."""
