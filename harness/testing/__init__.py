"""The pytest side: the plugin and its fixtures, devices (browser contexts with a time machine), the
``beacons`` object, matchers and golden payloads.
"""
