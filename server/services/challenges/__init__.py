"""Team challenges: definitions as admins edit them (`service`), the tick-free lifecycle that starts and
finishes them exactly once (`lifecycle`), their live ``challenge:`` scoreboards (`scoreboards`), the
scoring hook that adds accepted events to them (`scoring`) and how changes reach the scoreboard
(`notify`).

May import what ``server.services`` may, and ``scoring`` and ``topics``.
"""
