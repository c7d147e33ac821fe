"""People: accounts (registration, login, tokens, API keys), login throttling, admin provisioning, public
profiles and a player's own progress (the documents they answer: `read_models`; the badge catalogue as a
player sees it: `badges_catalogue`), teams and their membership history, notifications, announcements.

May import what ``server.services`` may, and the ``scoring`` group (the rules in force, read models) and
``topics`` (the documents a team change publishes).
"""
