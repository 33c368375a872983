"""``hubbub bench quality``: a Chromium call's quality in numbers, through the impairment relay.

:mod:`.run` starts the platform (and Janus, when it is measured), the relays and Chromium and
drives the lab page (src/hubbub/web/lab/): :mod:`.call` holds what the runs share, the call
through an SFU among it, and :mod:`.janus` the Janus videoroom's side of one; :mod:`.report`
turns what the pages collected into the result records (:func:`hubbub.schema.quality.summarise`)
and the readable table; :mod:`.cli` is the command.
"""

from __future__ import annotations

from .call import LEGS, SCENARIOS, SERVERS, QualityBenchError, Run, Source
from .cli import register
from .report import FIELDS, result, table
from .run import measure, run

__all__ = [
    "FIELDS",
    "LEGS",
    "SCENARIOS",
    "SERVERS",
    "QualityBenchError",
    "Run",
    "Source",
    "measure",
    "register",
    "result",
    "run",
    "table",
]
