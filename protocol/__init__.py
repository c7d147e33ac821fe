"""Wire protocol: msgpack message schemas and codecs shared by the hub, workers and load testers.

Layering: a leaf package. It imports nothing of ours; any layer may import it.
"""
