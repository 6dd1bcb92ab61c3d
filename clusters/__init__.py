"""Local clusters on loopback for trying (and testing) skewless' scale-out configuration:
a Spark standalone master + worker (:mod:`clusters.spark_standalone`) and a 3-master Redis
Cluster (:mod:`clusters.redis_cluster`). ``scripts/cluster.py`` is their command line."""
