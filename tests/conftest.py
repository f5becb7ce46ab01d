from tests.cluster.plugin import cluster, pytest_addoption  # noqa: F401
from tests.e2e.operator_process import crds_installed, database_server, operator, postgres  # noqa: F401
