"""`mysql-drift policy check`: is the file valid, and does it still say what its authors meant?"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from drift.policy import Exemption


def exemption_label(exemption: Exemption) -> str:
    """`line 12: server orders-db (firewall_rules)`: enough to find it in the file."""
    what = [f"{key} {getattr(exemption, key)}" for key in ("server", "resource_group", "tag")
            if getattr(exemption, key)]
    where = f"line {exemption.line}: " if exemption.line else ""
    return f"{where}{', '.join(what)} ({', '.join(exemption.settings) or 'every setting'})"


def cmd_policy_check(args: argparse.Namespace) -> int:
    """Valid: exit 0. An exemption already past its `expires` no longer exempts anything, which its
    authors may not know: each gets a warning on stderr; with --strict they make the check fail (exit 1),
    for a pipeline that wants the file kept current."""
    from drift.policy import load_policy

    policy = load_policy(args.file)
    desired = policy.desired
    print(f"{policy.source}: valid; TLS {', '.join(desired.tls_versions)}, "
          f"public access {desired.public_network_access}, {len(policy.approved_ranges)} approved range(s), "
          f"{len(policy.exemptions)} exemption(s), alerts from {policy.min_alert_severity}")
    now = datetime.now(UTC)
    expired = [e for e in policy.exemptions if e.expires <= now]
    for exemption in expired:
        print(f"warning: exemption {exemption_label(exemption)} expired on {exemption.expires.date().isoformat()} "
              f"and no longer applies: {exemption.reason}", file=sys.stderr)
    return 1 if expired and args.strict else 0
