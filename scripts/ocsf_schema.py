"""Make tests/specs/ocsf/compliance_finding-1.8.0.schema.json, and check it against the OCSF repository.

Not part of the build: the JSON Schema is committed and pinned (tests/fixtures.sha256); this script says how
it was made, so that a reviewer can make it again and compare bytes. It needs, outside the project's venv:

    python -m venv /tmp/ocsf && /tmp/ocsf/bin/pip install ocsf-json-schema==1.2.0
    git clone https://github.com/ocsf/ocsf-schema && git -C ocsf-schema checkout 1.8.0
    /tmp/ocsf/bin/python scripts/ocsf_schema.py ocsf-schema

1. The schema: ocsf-json-schema's `OcsfJsonSchemaEmbedded` turns the OCSF schema server's export of 1.8.0
   (`ocsf_json_schema/ocsf/1.8.0.json` in that package, fetched from `/1.8.0/export/v2/schema`) into a
   JSON Schema (draft 2020-12) of the class with the profiles we declare in `metadata.profiles`.
2. The check: that export is the compiled form of the `ocsf/ocsf-schema` repository at tag 1.8.0; the
   script reads the repository's own files (the class, `finding`, `base_event`, the `cloud` profile, the
   dictionary) and stops when the JSON Schema lacks one of their attributes or disagrees on a uid or an enum.
   (ocsf-lib 0.10.4 compiles the repository too, but gets 1.8.0 wrong: it keeps `_entity`'s constraints for
   objects that override them and drops the class's own attributes that a profile also defines.)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

VERSION = "1.8.0"
CLASS = "compliance_finding"
PROFILES = ["cloud", "datetime"]
OUT = Path(__file__).resolve().parent.parent / "tests" / "specs" / "ocsf" / f"{CLASS}-{VERSION}.schema.json"


def attributes(path: Path) -> set[str]:
    return {name for name in json.loads(path.read_text())["attributes"] if not name.startswith("$")}


def check_against_repository(schema: dict, checkout: Path) -> None:
    assert json.loads((checkout / "version.json").read_text())["version"] == VERSION, "check out tag 1.8.0"
    events = checkout / "events"
    wanted = (attributes(events / "findings" / f"{CLASS}.json") | attributes(events / "findings" / "finding.json")
              | attributes(events / "base_event.json") | attributes(checkout / "profiles" / "cloud.json"))
    missing = wanted - set(schema["properties"])
    assert not missing, f"the JSON Schema lacks {sorted(missing)}"
    own = json.loads((events / "findings" / f"{CLASS}.json").read_text())
    category = json.loads((checkout / "categories.json").read_text())["attributes"]["findings"]["uid"]
    assert schema["properties"]["class_uid"]["const"] == category * 1000 + own["uid"]
    assert schema["properties"]["category_uid"]["const"] == category
    dictionary = json.loads((checkout / "dictionary.json").read_text())["attributes"]
    finding = json.loads((events / "findings" / "finding.json").read_text())["attributes"]
    for name, enum in (("severity_id", dictionary["severity_id"]["enum"]), ("status_id", finding["status_id"]["enum"]),
                       ("activity_id", finding["activity_id"]["enum"])):
        extra = {"0", "99"}  # Unknown and Other: base_event's, added to every enum
        assert set(map(str, schema["properties"][name]["enum"])) == set(enum) | extra, name


def main(argv: list[str]) -> int:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    export = get_ocsf_schema(version=VERSION)
    schema = OcsfJsonSchemaEmbedded(export).get_class_schema(class_name=CLASS, profiles=PROFILES)
    if argv:
        check_against_repository(schema, Path(argv[0]))
    text = json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"{OUT.name}: sha256 {hashlib.sha256(text.encode()).hexdigest()}"
          + (f", checked against {argv[0]}" if argv else ", not checked (no checkout given)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
