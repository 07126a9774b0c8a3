"""`mysql-drift policy check`."""

from __future__ import annotations

import argparse


def cmd_policy_check(args: argparse.Namespace) -> int:
    from drift.policy import load_policy

    policy = load_policy(args.file)
    desired = policy.desired
    print(f"{policy.source}: valid; TLS {', '.join(desired.tls_versions)}, "
          f"public access {desired.public_network_access}, {len(policy.approved_ranges)} approved range(s), "
          f"{len(policy.exemptions)} exemption(s), alerts from {policy.min_alert_severity}")
    return 0
