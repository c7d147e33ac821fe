"""The real-time hub: topic streams (sequenced delta history) and the cross-process bus.

`streams` defines the extension points (`Streams`, `Bus`) and their semantics; `memory` implements them
in-process (embedded mode), `redis` on Redis (several hub processes).
"""
