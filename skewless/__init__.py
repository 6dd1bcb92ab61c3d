"""skewless: one set of pure-Python encoders for a Feast repo, run offline on Spark and online
on Redis-served values, with skew detection proving both paths agree.

The ``skewless`` command (:mod:`skewless.cli`) drives every step for any encoded service of a
Feast repo. Importing this package is cheap: feast and pyspark load only inside commands.
"""

__version__ = "0.1.0"
