"""The library-neutral identity suite (claims C1-C26), shipped so any project can run it against its own site.

``harness check --site-url URL --site-map MAP`` (or ``pytest --pyargs harness.suite``) runs it from any folder;
``harness conformance`` runs it once per library and writes the claim x library matrix. Its ``conftest.py`` holds
the suite's own fixtures; the harness pytest plugin provides everything else.
"""
