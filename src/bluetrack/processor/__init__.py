"""The chart processor: the Spark job (``job``, ``sink``) around the vectorised ``engine``.

Kept import-light on purpose: importing ``bluetrack.processor`` must not start or even import
Spark, pandas or numpy; import the submodule you need.
"""
