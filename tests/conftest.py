"""Shared test configuration: Hypothesis profiles.

Select one with ``HYPOTHESIS_PROFILE=quick`` (default: ``gamif``).
"""

import os

from hypothesis import settings

settings.register_profile("gamif", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("quick", max_examples=25, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gamif"))
