"""The pytest side: the plugin and its fixtures, devices (browser contexts with a time machine), the
``beacons`` object, matchers and golden payloads.

``measured(condition, "what was measured: ...")`` is the check a ``differs`` xfail needs: it raises
:class:`MeasuredDifference` (alias ``Differs``), the one failure such an xfail accepts.
"""

from harness.testing.matchers import MeasuredDifference, measured

Differs = MeasuredDifference

__all__ = ["Differs", "MeasuredDifference", "measured"]
