"""The composition root: wires the conversation core, the channels and the background parts."""
