"""Shared test settings.

Hypothesis: the ``ci`` profile (chosen when the environment variable ``CI`` is set, as ``.ci/run``
does) is derandomised and keeps no example database, so every CI run draws the same examples; local
runs use the ``dev`` profile, random with the usual on-disk database so that a found failure is
replayed first. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
