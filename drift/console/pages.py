"""The console's pages, server-rendered: every value goes through `drift.console.html.tag`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import detectors
from drift.console.data import (
    RANK,
    SEVERITIES,
    Filters,
    Fleet,
    ServerView,
    resource_group,
    server_scoped,
    server_settings,
    subscription,
)
from drift.console.html import Markup, join, query, tag
from drift.model import HistoryRecord

if TYPE_CHECKING:
    from drift.findings import Finding

PORTAL = "https://portal.azure.com/#@/resource"
LETTER = {"critical": "C", "high": "H", "medium": "M", "low": "L", "info": "I"}
COMPACT = 3  # open findings listed per server on a phone (worst first); the server page has them all


def when(value: str | None) -> str:
    """`2026-11-20T10:00:07.512+00:00` as `2026-11-20 10:00:07 UTC`."""
    return f"{value[:10]} {value[11:19]} UTC" if value and len(value) >= 19 else (value or "unknown")


def title_of(setting: str) -> str:
    try:
        return detectors.by_setting(setting).title
    except KeyError:
        return setting


def page(base: str, title: str, user: str, *body: object) -> Markup:
    head = tag("head", None,
               tag("meta", {"charset": "utf-8"}),
               tag("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
               tag("title", None, f"{title} · mysql-drift"),
               tag("link", {"rel": "stylesheet", "href": f"{base}/static/console.css"}),
               tag("script", {"src": f"{base}/static/console.js", "defer": True}))
    header = tag("header", None,
                 tag("a", {"href": f"{base}/", "class": "brand"}, "mysql-drift"),
                 tag("span", {"class": "user"}, "signed in as ", tag("b", None, user)) if user else None)
    return Markup("<!doctype html>\n" + tag("html", {"lang": "en"}, head,
                                            tag("body", None, header, tag("main", None, *body))))


def badge(severity: str | None, text: str | None = None) -> Markup:
    return tag("span", {"class": f"sev sev-{severity or 'none'}"}, text or (severity or "none").upper())


def exports(base_path: str, filters: Filters, **extra: str) -> Markup:
    links = [tag("a", {"href": query(base_path, **extra, **filters.raw, format=fmt), "download": True,
                       "class": "export"}, f"Export {fmt.upper()}") for fmt in ("csv", "json")]
    return tag("p", {"class": "exports"}, *links)


def filter_form(action: str, filters: Filters, *, hidden: dict[str, str] | None = None,
                server: bool = False) -> Markup:
    def field(label: str, control: Markup) -> Markup:
        return tag("label", None, tag("span", None, label), control)

    severity = tag("select", {"name": "severity"}, tag("option", {"value": ""}, "any"),
                   *[tag("option", {"value": s, "selected": filters.severity == s}, f"{s} or worse")
                     for s in SEVERITIES])
    setting = tag("select", {"name": "setting"}, tag("option", {"value": ""}, "any"),
                  *[tag("option", {"value": s, "selected": filters.setting == s}, title_of(s))
                    for s in server_settings()])
    fields = [field("Severity", severity), field("Setting", setting),
              field("Who", tag("input", {"name": "who", "value": filters.raw.get("who", ""), "placeholder": "name"})),
              field("Since", tag("input", {"name": "since", "value": filters.raw.get("since", ""),
                                           "placeholder": "24h, 7d, 2026-11-01"}))]
    if server:
        fields.append(field("Server", tag("input", {"name": "server", "value": filters.raw.get("server", ""),
                                                    "placeholder": "part of a name"})))
    keep = [tag("input", {"type": "hidden", "name": k, "value": v}) for k, v in (hidden or {}).items()]
    return tag("form", {"class": "filters", "method": "get", "action": action}, *keep, *fields,
               tag("button", {"type": "submit"}, "Filter"),
               tag("a", {"href": query(action, **(hidden or {}))}, "clear") if filters.active else None)


# --- the fleet ----------------------------------------------------------------------------

def fleet_page(base: str, user: str, fleet: Fleet, filters: Filters) -> Markup:
    summary = tag("ul", {"class": "summary"}, *[
        tag("li", None, badge(None if s == "none" else s, f"{n} {'nothing open' if s == 'none' else s}"))
        for s, n in fleet.summary() if n or s != "none"])
    head = tag("tr", None, tag("th", {"scope": "col"}, "Server"), tag("th", {"scope": "col"}, "Worst"),
               *[tag("th", {"scope": "col", "title": title_of(s)}, tag("span", {"class": "col"}, s))
                 for s in fleet.settings])
    rows = []
    compact = []
    quiet = tag("td", None, "·")  # nothing open: the column's header names the setting
    for row in fleet.rows:
        server_page = query(f"{base}/server", id=row.server_id)
        link = tag("a", {"href": server_page}, row.server)
        cells = []
        for setting in fleet.settings:
            found = row.cells.get(setting)
            if not found:
                cells.append(quiet)
                continue
            worst = row.cell(setting)
            href = (f"{base}/finding/{found[0].id}" if len(found) == 1
                    else query(f"{base}/server", id=row.server_id, setting=setting))
            cells.append(tag("td", {"class": f"sev-{worst}"}, tag("a", {"href": href}, LETTER.get(worst or "", "?"))))
        rows.append(tag("tr", {"data-server": row.server_id},
                        tag("th", {"scope": "row"}, link), tag("td", None, badge(row.worst)), *cells))
        found = sorted((f for setting in fleet.settings for f in row.cells.get(setting, [])),
                       key=lambda f: -RANK.get(f.severity, -1))
        items = [tag("a", {"href": f"{base}/finding/{f.id}", "class": f"sev sev-{f.severity}"},
                     f"{f.severity.upper()} {f.setting}") for f in found[:COMPACT]]
        if len(found) > COMPACT:
            items.append(tag("a", {"href": server_page, "class": "more"}, f"+{len(found) - COMPACT} more"))
        compact.append(tag("li", None, link, " ", join(items) if items else tag("span", {"class": "quiet"},
                                                                                "nothing open")))
    subscription = None
    if fleet.subscription_findings:
        subscription = (tag("h2", None, "Subscription settings"),
                        tag("ul", {"class": "subscription"}, *[
                            tag("li", {"data-finding": f.id}, badge(f.severity), " ",
                                tag("a", {"href": f"{base}/finding/{f.id}"}, f"{title_of(f.setting)}: {f.server}"))
                            for f in fleet.subscription_findings]))
    shown = (f"{len(fleet.rows)} of {fleet.servers_total} watched servers shown, "
             f"{len(fleet.findings)} open finding(s)")
    legend = tag("p", {"class": "legend"}, "Cells: worst open finding of the setting (",
                 join([tag("span", {"class": f"sev sev-{s}"}, f"{LETTER[s]} {s}") for s in SEVERITIES]),
                 "); · nothing open.")
    return page(base, "Fleet", user,
                tag("h1", None, "Fleet"),
                summary,
                tag("p", {"class": "shown"}, shown),
                filter_form(f"{base}/", filters, server=True),
                exports(f"{base}/", filters),
                subscription,
                legend,
                tag("div", {"class": "grid-wrap"}, tag("table", {"class": "grid"}, tag("thead", None, head),
                                                        tag("tbody", None, *rows))),
                tag("ul", {"class": "compact"}, *compact),
                tag("p", {"class": "quiet"}, "No server matches these filters.") if not fleet.rows else None)


# --- one server ---------------------------------------------------------------------------

def finding_rows(base: str, findings: list[Finding], *, closed: bool = False) -> Markup:
    head = ["Severity", "Setting", "Status", "Opened", "Changed by", "From", ""]
    if closed:
        head = ["Severity", "Setting", "Status", "Closed", "Closed by", "How", ""]
    body = []
    for f in findings:
        cells = ([f.closed_at and when(f.closed_at), f.closed_by or "", f.closed_via or ""] if closed
                 else [when(f.opened_at), f.changed_by, f.client_ip or "unknown"])
        labels = head[3:6]
        body.append(tag("tr", {"data-finding": f.id},
                        tag("td", {"data-label": "Severity"}, badge(f.severity)),
                        tag("td", {"data-label": "Setting"}, title_of(f.setting)),
                        tag("td", {"data-label": "Status"}, f.status),
                        *[tag("td", {"data-label": label}, value) for label, value in zip(labels, cells, strict=True)],
                        tag("td", None, tag("a", {"href": f"{base}/finding/{f.id}"}, "open finding"))))
    return tag("table", {"class": "list"}, tag("thead", None, tag("tr", None, *[tag("th", None, h) for h in head])),
               tag("tbody", None, *body))


def timeline_row(base: str, r: HistoryRecord) -> Markup:
    change = tag("span", {"class": "change"}, tag("span", {"class": "before"},
                                                  r.before if r.before is not None else "(first seen)"),
                 " → ", tag("span", {"class": "after"}, r.after or ""))
    cells = [("When", when(r.detected_at)), ("Setting", title_of(r.setting)), ("Before → after", change),
             ("Verdict", tag("span", {"class": f"verdict v-{r.verdict}"}, r.verdict)),
             ("Severity", badge(r.severity)), ("Who", r.changed_by), ("From", r.client_ip or "unknown"),
             ("Event", tag("span", {"title": r.event_id}, r.event_id[:8])),
             ("Alert", tag("a", {"href": f"{base}/alert/{r.alert_key}"}, r.alert_key) if r.alert_key
              else r.alert_status),
             ("Reviewed", r.acknowledged or "")]
    return tag("tr", {"data-event": r.event_id}, *[tag("td", {"data-label": label}, value) for label, value in cells])


def server_page(base: str, user: str, view: ServerView, filters: Filters) -> Markup:
    open_ = [f for f in view.findings if f.open]
    closed = [f for f in view.findings if not f.open]
    worst = {f.setting: f.severity for f in open_}
    current = tag("table", {"class": "list current"}, tag("tbody", None, *[
        tag("tr", None, tag("th", {"scope": "row"}, title_of(s)), tag("td", None, state),
            tag("td", None, badge(worst.get(s)) if s in worst else "")) for s, state in view.current]))
    heads = ["When", "Setting", "Before → after", "Verdict", "Severity", "Who", "From", "Event", "Alert", "Reviewed"]
    timeline = tag("table", {"class": "list timeline"},
                   tag("thead", None, tag("tr", None, *[tag("th", None, h) for h in heads])),
                   tag("tbody", None, *[timeline_row(base, r) for r in view.timeline]))
    facts = tag("dl", {"class": "facts"},
                tag("dt", None, "Resource group"), tag("dd", None, resource_group(view.server_id)),
                tag("dt", None, "Subscription"), tag("dd", None, subscription(view.server_id)),
                tag("dt", None, "Id"), tag("dd", {"class": "id"}, view.server_id))
    return page(base, view.server, user,
                tag("p", {"class": "crumbs"}, tag("a", {"href": f"{base}/"}, "Fleet"), " / ", view.server),
                tag("h1", None, view.server),
                facts,
                tag("p", None, tag("a", {"href": f"{PORTAL}{view.server_id}", "rel": "noopener noreferrer",
                                         "target": "_blank", "class": "portal"}, "Open in the Azure portal")),
                tag("h2", None, f"Open findings ({len(open_)})"),
                finding_rows(base, open_) if open_ else tag("p", {"class": "quiet"}, "Nothing open."),
                tag("h2", None, "Current settings (the baseline)"),
                current,
                tag("h2", None, f"Timeline ({len(view.timeline)})"),
                filter_form(f"{base}/server", filters, hidden={"id": view.server_id}),
                exports(f"{base}/server", filters, id=view.server_id),
                timeline if view.timeline else tag("p", {"class": "quiet"}, "No change matches these filters."),
                (tag("h2", None, f"Closed findings ({len(closed)})"), finding_rows(base, closed, closed=True))
                if closed else None)


# --- one finding --------------------------------------------------------------------------

def review_forms(base: str, f: Finding) -> Markup:
    reason = {"name": "reason", "required": True, "maxlength": "2000", "rows": "2"}
    accept_fields = {"server": f.server_id, "setting": f.setting}
    if f.alert_keys:
        accept_fields["alert"] = f.alert_keys[-1]
    else:
        accept_fields["expect"] = f.after or ""
    if not server_scoped(f.setting):  # accepted per subscription only through a policy exemption
        accept = tag("p", {"class": "quiet"},
                     "A subscription-level setting is not accepted per server: exempt it in the policy.")
    else:
        accept = tag("form", {"class": "review accept", "method": "post", "action": f"{base}/accept"},
                     tag("h3", None, "Accept as the baseline"),
                     tag("p", {"class": "quiet"}, "The current state becomes the baseline; refused if Azure now "
                                                  "shows something else than this page."),
                     *[tag("input", {"type": "hidden", "name": k, "value": v}) for k, v in accept_fields.items()],
                     tag("label", None, tag("span", None, "Why is it intended?"), tag("textarea", reason)),
                     tag("button", {"type": "submit"}, "Accept"),
                     tag("p", {"class": "result", "role": "status"}))
    ack = tag("form", {"class": "review ack", "method": "post", "action": f"{base}/ack"},
              tag("h3", None, "Acknowledge"),
              tag("p", {"class": "quiet"}, "Mark it seen: the finding stays open, the baseline is untouched."),
              tag("input", {"type": "hidden", "name": "event_id", "value": f.event_id}),
              tag("label", None, tag("span", None, "Note"), tag("textarea", reason)),
              tag("button", {"type": "submit"}, "Acknowledge"),
              tag("p", {"class": "result", "role": "status"}))
    return tag("section", {"class": "forms"}, accept, ack,
               tag("noscript", None, "Accept and Acknowledge need JavaScript (they post JSON to the review routes)."))


def finding_page(base: str, user: str, f: Finding) -> Markup:
    detector_title = title_of(f.setting)
    facts: list[tuple[str, object]] = [
        ("Server", tag("a", {"href": query(f"{base}/server", id=f.server_id)}, f.server)),
        ("Resource group", resource_group(f.server_id)), ("Subscription", subscription(f.server_id)),
        ("Setting", f"{detector_title} ({f.setting})"),
        ("Status", tag("span", {"class": f"status st-{f.status}"}, f.status)),
        ("Severity", badge(f.severity)),
        ("Before", f.before if f.before is not None else "(first seen)"), ("After", f.after or ""),
        ("Changed by", f.changed_by), ("From IP", f.client_ip or "unknown"),
        ("Opened", when(f.opened_at)), ("Last change", when(f.updated_at)),
        ("Control", f"MCSB {f.control}" if f.control else "-"),
        ("Alert id", join([tag("code", None, k) for k in f.alert_keys]) if f.alert_keys else "-"),
        ("Correlation", f.correlation_id or "-"), ("Event id", f.event_id),
        ("Acknowledged", f.acknowledged or "-"),
    ]
    if getattr(f, "exemption", None):
        facts.append(("Exemption", f.exemption))
    if not f.open:
        facts += [("Closed", when(f.closed_at)), ("Closed by", f.closed_by or "-"), ("How", f.closed_via or "-"),
                  ("Reason", f.close_reason or "-")]
    remediation = f.remediation or ""
    try:
        advice = detectors.by_setting(f.setting).remediation
    except KeyError:
        advice = ""
    return page(base, f"{f.severity.upper()} {detector_title} on {f.server}", user,
                tag("p", {"class": "crumbs"}, tag("a", {"href": f"{base}/"}, "Fleet"), " / ",
                    tag("a", {"href": query(f"{base}/server", id=f.server_id)}, f.server), " / finding"),
                tag("h1", {"class": f"sev-head sev-{f.severity}"},
                    f"{f.severity.upper()}: {detector_title} weakened on {f.server}"),
                tag("p", {"class": "why"}, f.why),
                tag("dl", {"class": "facts"}, *[join([tag("dt", None, k), tag("dd", None, v)]) for k, v in facts]),
                tag("h2", None, "Undo"),
                tag("p", None, advice),
                tag("pre", {"class": "command"}, tag("code", None, remediation)) if remediation else None,
                tag("p", None, tag("a", {"href": f"{PORTAL}{f.server_id}", "rel": "noopener noreferrer",
                                         "target": "_blank", "class": "portal"}, "Open in the Azure portal")),
                review_forms(base, f) if f.open else None)


def message_page(base: str, user: str, status: int, text: str) -> Markup:
    return page(base, str(status), user, tag("h1", None, {400: "Bad request", 401: "Sign in", 403: "Refused",
                                                           404: "Not found"}.get(status, "Error")),
                tag("p", {"class": "error"}, text), tag("p", None, tag("a", {"href": f"{base}/"}, "Fleet")))
