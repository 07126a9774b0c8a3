"""A local stand-in for Azure Resource Manager: MySQL flexible servers and diagnostic settings.

What it serves (HTTPS on loopback, in-memory state, one lock):

* ``Microsoft.DBforMySQL/flexibleServers`` api-version 2024-12-30: servers (list/get/put/patch/
  delete, restart/start/stop, detachVNet), firewall rules, configurations (+ ``updateConfigurations`` batch),
  Entra administrators, private endpoint connections, Advanced Threat Protection settings.
* ``Microsoft.Insights/diagnosticSettings`` api-version 2021-05-01-preview on a server.
* One Event Grid event (Event Grid schema, system topic of the subscription) for every successful
  PUT/PATCH/DELETE/POST, queued under the same lock as the state change and before the response.
* ``/_standin/...``: an unauthenticated admin surface for out-of-process tests (events, faults,
  latency, emit switch, stats, reset).

Bodies follow the official REST examples. Deliberate differences, all to keep the real SDK happy:

* Long-running operations take effect at once, but answer as the spec says (lro.py): 201/202 with
  ``Azure-AsyncOperation`` and/or ``Location`` and polling URLs the SDK pollers follow. With
  ``lro.enabled = False`` they answer 200/201 at once, and a ``201 Created`` then carries
  ``properties.provisioningState = "Succeeded"`` (else azure-core's ``BodyContentPolling`` GETs again).
* Lists of configurations, firewall rules and administrators are paged (``child_page_size``), path
  names are checked against the spec's patterns on PUT, and diagnostic-settings errors take the
  Monitor spec's ``ErrorResponse`` shape (``{"code", "message"}``, no ``error`` wrapper).
* Events can vary as Azure's do (``event_variation``, off by default: variation.py).
* Private endpoint connections report ``provisioningState`` "Succeeded": the example's "Ready" is
  not a terminal LRO state, so ``begin_create_or_update`` would poll every 30 s forever.
* Configurations also carry ``currentValue`` (the running value: for a static parameter it changes
  only after ``restart``), as the live service does.

The package, one module per idea: standin.py (`ArmStandIn`: state, lifecycle, the request entry point),
handler.py (HTTP request parsing), routes.py (ARM paths), model.py, parameters.py and render.py (resources
and their bodies), servers.py, children.py, configurations.py, actions.py and diagnostics.py (operations per
resource family), events.py, limits.py (faults, read bucket, stats), admin.py and cli.py.
"""

from drift.local.arm.errors import ArmError
from drift.local.arm.limits import StandInStats
from drift.local.arm.model import INSIGHTS_API_VERSION, MYSQL_API_VERSION
from drift.local.arm.parameters import ParameterSpec, parameter_catalogue
from drift.local.arm.standin import ArmStandIn
from drift.local.httpd import JsonRequestHandler, TrackingHTTPServer

__all__ = [
    "INSIGHTS_API_VERSION",
    "MYSQL_API_VERSION",
    "ArmError",
    "ArmStandIn",
    "JsonRequestHandler",
    "ParameterSpec",
    "StandInStats",
    "TrackingHTTPServer",
    "parameter_catalogue",
]
