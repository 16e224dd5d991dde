"""What the browser loads: the sample shop, snippet profiles (a vendor's CDN included), storage
encodings, site maps, and interception of any site's vendor traffic.
"""
