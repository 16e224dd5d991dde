"""The harness's own HTTP side for people: the inspection API, the live inspector page, and the guard
that keeps other sites out.
"""
