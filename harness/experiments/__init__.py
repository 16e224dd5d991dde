"""The missing-sign-ups experiment (``harness repro signup-loss``) as a package.

:mod:`.experiment` is the core both drivers share (trials, outcomes in time / late / lost / error, the
Wilson interval, tables, JSON, the HTML picture, evidence); :mod:`.shop` drives the sample shop,
:mod:`.site` a foreign site through interception, :mod:`.cli` is the ``repro`` click group.
``harness.tools.repro`` and ``harness.tools.repro_site`` (and 0.1's ``harness.repro``) re-export the
public names. It is not called ``harness.repro``: that name is 0.1's alias of ``harness.tools.repro``.
"""
