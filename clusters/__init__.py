"""Local services and clusters on loopback: the services the project needs on one machine,
Java 17+ and a Redis server started when none answers (:mod:`clusters.services`, run by
``scripts/setup.sh`` and ``skewless demo``), and the clusters for trying (and testing) skewless'
scale-out configuration: a Spark standalone master + worker (:mod:`clusters.spark_standalone`)
and a 3-master Redis Cluster (:mod:`clusters.redis_cluster`). ``scripts/cluster.py`` is the
clusters' command line, ``python -m clusters.services`` the services'."""
