"""A history row as an OCSF 1.8.0 Compliance Finding (class 2003), for SIEMs, data lakes and SOARs.

Why Compliance Finding and not Detection Finding: a drift is the result of checking one setting of a
resource against a baseline that stands for a Microsoft cloud security benchmark (MCSB) control, which is
what OCSF says Compliance Findings describe ("results of evaluations performed against resources, to check
compliance with ... Security Standards"). Only that class has the `compliance` object, so the control, the
standard and the pass/fail of the check are attributes a consumer can query instead of vendor extras
(Prowler, which writes Detection Findings, puts its compliance mapping in `unmapped`). The ARM write that
caused the change (who, from which address, which operation) is the finding's evidence.

The event is validated in the tests against the official schema of the class with the `cloud` and `datetime`
profiles (tests/specs/ocsf/). Every string from outside goes through the cards' cleaning
(`notifiers.safe.clip`): no control or invisible format characters, long values cut with a marker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drift.armid import InvalidResourceId, ResourceId
from drift.findings import finding_id
from drift.model import HistoryRecord, Verdict, alert_key
from notifiers.safe import clip

if TYPE_CHECKING:
    from detectors import Detector
    from drift.findings import Finding

VERSION = "1.8.0"  # the OCSF schema version the events are validated against
PROFILES = ["cloud", "datetime"]
CLASS_UID, CLASS_NAME = 2003, "Compliance Finding"
CATEGORY_UID, CATEGORY_NAME = 2, "Findings"
SCHEMA_URL = f"https://schema.ocsf.io/schema/{VERSION}/classes/compliance_finding?profiles={','.join(PROFILES)}"
STANDARD = "Microsoft cloud security benchmark v1"
CIS = "CIS Microsoft Azure Foundations Benchmark v3.0.0"
SERVER_TYPE = "Microsoft.DBforMySQL/flexibleServers"
PRODUCT = "mysql-drift"
LIMIT = 8192  # characters of one value: keeps a hostile 64 KiB rule name from filling a 1 MiB CloudEvent

_SEVERITY = {"info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"), "high": (4, "High"),
             "critical": (5, "Critical")}
_ACTIVITY = {1: "Create", 2: "Update", 3: "Close"}
_STATUS = {1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 99: "Other"}
# A Finding's lifecycle (drift/findings.py) as the finding status: acknowledged is under review; accepted is
# reviewed and kept as it is (the baseline takes the new state: suppressed, not remediated).
_LIFECYCLE = {"open": 1, "acknowledged": 2, "accepted": 3, "resolved": 4}
_COMPLIANCE = {Verdict.WEAKENED.value: (3, "Fail"), Verdict.STRENGTHENED.value: (1, "Pass"),
               Verdict.CHANGED.value: (1, "Pass")}


def severity_id(severity: str) -> int:
    """OCSF `severity_id`: 1 info, 2 low, 3 medium, 4 high, 5 critical; 0 (Unknown) for anything else."""
    return _SEVERITY.get(str(severity).lower(), (0, "Unknown"))[0]


def row_uid(record: HistoryRecord) -> str:
    """A stable id of a history row: one event gives one row per setting of a server, recorded once."""
    return alert_key(f"{record.server_id.lower()}|{record.setting}|{record.event_id}|{record.detected_at}")


def finding_event(record: HistoryRecord, *, finding: Finding | None = None) -> dict[str, Any]:
    """The OCSF Compliance Finding of one history row; with `finding`, its lifecycle sets uid and status."""
    sev = _SEVERITY.get(record.severity.lower(), (0, "Unknown"))
    activity = _activity(record, finding)
    status = _status(record, finding)
    compliance_status = _COMPLIANCE.get(record.verdict, (2, "Warning"))
    when = _utc(record.detected_at) or _utc(record.event_time) or datetime.fromtimestamp(0, UTC)
    first = (_utc(finding.opened_at) if finding else None) or _utc(record.event_time) or when
    last = (_utc(finding.updated_at) if finding else None) or when
    detector = _detector(record.setting)
    subject = detector.title if detector else _text(record.setting)
    title = f"{subject} {_text(record.verdict)} on {_text(record.server)}"
    event: dict[str, Any] = {
        "activity_id": activity, "activity_name": _ACTIVITY[activity],
        "category_uid": CATEGORY_UID, "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID, "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity, "type_name": f"{CLASS_NAME}: {_ACTIVITY[activity]}",
        "time": _ms(when), "time_dt": _dt(when),
        "severity_id": sev[0], "severity": sev[1],
        "status_id": status, "status": _STATUS[status],
        "message": _text(record.why),
        "metadata": _metadata(record),
        "cloud": _cloud(record),
        "finding_info": {
            "uid": _finding_uid(record, finding),
            "title": title, "desc": _text(record.why),
            "types": ["Configuration Drift", f"{PRODUCT}/{_text(record.setting)}"],
            "analytic": {"uid": _text(record.setting), "name": f"{PRODUCT}: {_text(record.setting)}",
                         "type_id": 1, "type": "Rule"},
            "first_seen_time": _ms(first), "first_seen_time_dt": _dt(first),
            "last_seen_time": _ms(last), "last_seen_time_dt": _dt(last),
            "created_time": _ms(first), "created_time_dt": _dt(first),
            "modified_time": _ms(when), "modified_time_dt": _dt(when),
            "data_sources": ["Azure Resource Manager"],
        },
        "compliance": _compliance(record, compliance_status),
        "resources": [_resource(record)],
        "evidences": [_evidence(record)],
        "unmapped": _unmapped(record, finding),
    }
    keys = finding.alert_keys if finding else [record.alert_key] if record.alert_key else []
    if keys:
        event["finding_info"]["uid_alt"] = _text(keys[0])  # the alert that first carried it (the card's "Alert id")
    if record.verdict == Verdict.WEAKENED.value and (record.remediation or detector):  # else nothing to do
        advice = detector.remediation if detector else f"Restore the baseline of {_text(record.setting)}."
        undo = f" Undo: {_text(record.remediation)}" if record.remediation else ""
        event["remediation"] = {"desc": f"{advice}{undo}"}
        if detector and detector.doc_url:
            event["remediation"]["references"] = [detector.doc_url]
    return event


def _detector(setting: str) -> Detector | None:
    """The detector that judged the row (its title, advice and documentation), None for the engine's own rows
    (a deleted server) or a setting no detector has any more."""
    import detectors

    try:
        return detectors.by_setting(setting)
    except KeyError:
        return None


def _finding_uid(record: HistoryRecord, finding: Finding | None) -> str:
    """The finding's id: given, or the row's (the finding it opened, updated or resolved), or, for a row
    written before findings were kept, the id drift.findings gives the finding a weakening row opens."""
    known = finding.id if finding else record.finding_id
    return _text(known) if known else finding_id(record.server_id, record.setting, record.event_id)


def _activity(record: HistoryRecord, finding: Finding | None) -> int:
    if record.verdict == Verdict.WEAKENED.value:
        keys = finding.alert_keys if finding else []
        opened_before = bool(keys) and record.alert_key is not None and record.alert_key != keys[0]
        return 2 if opened_before else 1
    return 3 if record.verdict == Verdict.STRENGTHENED.value else 2


def _status(record: HistoryRecord, finding: Finding | None) -> int:
    if finding is not None and finding.status in _LIFECYCLE:
        return _LIFECYCLE[finding.status]
    if record.verdict == Verdict.WEAKENED.value:
        return 3 if record.exemption else 2 if record.acknowledged else 1
    return 4 if record.verdict == Verdict.STRENGTHENED.value else 99


def _metadata(record: HistoryRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "version": VERSION, "profiles": list(PROFILES),
        "product": {"name": PRODUCT, "vendor_name": PRODUCT, "uid": PRODUCT},
        "uid": row_uid(record), "original_event_uid": _text(record.event_id),
        "event_code": _text(record.setting),
    }
    version = _product_version()
    if version:
        meta["product"]["version"] = version
    if record.correlation_id:
        meta["correlation_uid"] = _text(record.correlation_id)
    return meta


def _cloud(record: HistoryRecord) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": "Azure"}
    rid = _parse(record.server_id)
    if rid is not None:
        cloud["account"] = {"uid": rid.subscription_id, "type_id": 13, "type": "Azure Subscription"}
    return cloud


def _resource(record: HistoryRecord) -> dict[str, Any]:
    rid = _parse(record.server_id)
    resource: dict[str, Any] = {"uid": _text(record.server_id), "name": _text(record.server)}
    if rid is not None and rid.namespace and rid.types:
        resource["type"] = f"{rid.namespace}/{'/'.join(rid.types)}"
        if rid.resource_group:
            resource["group"] = {"name": rid.resource_group}
    else:
        resource["type"] = SERVER_TYPE if "/flexibleservers/" in record.server_id.lower() else "Microsoft.Resources"
    return resource


def _evidence(record: HistoryRecord) -> dict[str, Any]:
    """The ARM write the change came from: who (from the platform's claims, never a body), where from, what."""
    evidence: dict[str, Any] = {
        "uid": _text(record.event_id),
        "name": _text(record.operation),
        "actor": {"user": {"name": _text(record.changed_by)}},
        "api": {"operation": _text(record.operation), "service": {"name": "Azure Resource Manager"}},
        "data": {"setting": _text(record.setting), "before": _value(record.before), "after": _value(record.after),
                 "event_time": _text(record.event_time) if record.event_time else None},
    }
    if record.correlation_id:
        evidence["api"]["request"] = {"uid": _text(record.correlation_id)}
    if record.client_ip:
        evidence["src_endpoint"] = {"ip": _text(record.client_ip)}
    return evidence


def _compliance(record: HistoryRecord, status: tuple[int, str]) -> dict[str, Any]:
    compliance: dict[str, Any] = {"status_id": status[0], "status": status[1], "desc": _text(record.why)}

    control = _text(record.control) if record.control else ""
    standards, requirements = [], []
    if control and control != "-":  # checks the benchmark does not cover (server tags, HA) name no control
        compliance["control"] = control
        standards.append(STANDARD)
        requirements.append(f"MCSB {control}")
    detector = _detector(record.setting)
    if detector and detector.cis:
        standards.append(CIS)
        requirements.append(f"CIS {detector.cis}")
    if standards:
        compliance.update(standards=standards, requirements=requirements)
    params = [("baseline", record.before), ("observed", record.after)]
    compliance["control_parameters"] = [{"name": name, "value": _text(value)} for name, value in params
                                        if value is not None]
    return compliance


def _unmapped(record: HistoryRecord, finding: Finding | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"verdict": _text(record.verdict), "alert_status": _text(record.alert_status)}
    if record.remediation and record.verdict == Verdict.WEAKENED.value:
        extra["undo_command"] = _text(record.remediation)
    for name in ("exemption", "acknowledged", "alert_key"):
        value = getattr(record, name)
        if value:
            extra[name] = _text(value)
    if finding is not None:
        extra["finding_status"] = finding.status
    return extra


def _text(value: object) -> str:
    return clip(value, LIMIT)


def _value(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _parse(server_id: str) -> ResourceId | None:
    try:
        return ResourceId.parse(server_id)
    except InvalidResourceId:
        return None


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _dt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _product_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PRODUCT)
    except PackageNotFoundError:
        return None
