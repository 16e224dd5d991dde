"""The command line: ``harness`` and its commands (serve, beacons, profiles, lint, reset, repro, demo,
browse, conformance) and their terminal views.
"""
