"""Identity analysis over stored beacons: profiles and MTU (an incremental identity graph), the best-
practice lint, tracking plans, the claims table.
"""
