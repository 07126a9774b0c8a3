"""Options for azure-core clients: the environment read once, not on every request.

azure-core's default transport is requests, which with `use_env_settings` on (the default)
rereads the proxy variables (every `*_proxy`), the CA bundle variables and `~/.netrc` on every
request: about 7-9 % of the handler's time on the local stack. The app's environment does not
change while it runs, so it is read once here; when none of them is set, clients are built
with `use_env_settings=False`, and when one is, they keep honouring it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_READ_PER_REQUEST = ("requests_ca_bundle", "curl_ca_bundle", "netrc")


def client_options(env: Mapping[str, str] | None = None, netrc: Path | None = None) -> dict[str, Any]:
    """Keyword arguments for an azure-core client (or `PipelineClient`): the process's environment is
    looked at once, however many clients are built."""
    if env is None and netrc is None:
        return dict(_process_options())
    return _options(os.environ if env is None else env, netrc)


@functools.cache
def _process_options() -> tuple[tuple[str, Any], ...]:
    return tuple(_options(os.environ, None).items())


def _options(env: Mapping[str, str], netrc: Path | None) -> dict[str, Any]:
    netrc = Path("~/.netrc").expanduser() if netrc is None else netrc
    if any(k.lower().endswith("_proxy") or k.lower() in _READ_PER_REQUEST for k in env) or netrc.exists():
        return {}
    return {"use_env_settings": False}
