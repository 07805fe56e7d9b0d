"""Data-parallel replicas on Ray (`jlce run --replicas N`): one backend per Ray actor, work units
handed out by the driver, every finished unit committed to the driver's request cache.
Ray is optional (`pip install 'jlce[ray]'`) and imported only when replicas are used."""
