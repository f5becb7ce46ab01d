from tests.cluster.plugin import cluster, pytest_addoption  # noqa: F401
from tests.e2e.operator_process import (  # noqa: F401
    crds_installed,
    database_server,
    health_endpoint,
    operator,
    postgres,
    smtp_server,
    webhook_receiver,
)
from tests.e2e.prometheus import exporter, prometheus  # noqa: F401
