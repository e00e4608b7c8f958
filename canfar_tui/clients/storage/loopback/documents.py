"""The XML documents of the loopback VOSpace service: namespaces, properties, VOSI.

Documents are built with literal ``vos:``/``uws:`` prefixes and xmlns attributes, never with
``ET.register_namespace``: that registry is process-wide, and a registered ``vos`` prefix makes
the ``vos`` library (which adds its own literal xmlns:vos attribute) write malformed XML
in-process.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

__all__ = [
    "AVAILABILITY",
    "CORE",
    "NAMESPACES",
    "PROP_DATE",
    "PROP_LENGTH",
    "READ_ONLY_PROPERTIES",
    "UWS_NS",
    "VOS_NS",
    "XLINK_NS",
    "XSI_NS",
    "capabilities_document",
    "document_properties",
    "format_date",
    "node_content_type",
    "xml_bytes",
]

VOS_NS = "http://www.ivoa.net/xml/VOSpace/v2.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
CORE = "ivo://ivoa.net/vospace/core#"
PROP_LENGTH = CORE + "length"
PROP_DATE = CORE + "date"

#: Properties the service computes; clients cannot set them.
READ_ONLY_PROPERTIES = frozenset(
    CORE + name for name in ("length", "MD5", "date", "creator", "quota", "type")
)

NAMESPACES = {"xmlns:vos": VOS_NS, "xmlns:xsi": XSI_NS}


def format_date(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def node_content_type(name: str) -> str:
    if name.endswith((".fits", ".fits.fz", ".fz", ".fit")):
        return "application/fits"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def xml_bytes(element: ET.Element) -> bytes:
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


_CAPABILITY_IDS = (
    ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities", False),
    ("ivo://ivoa.net/std/VOSI#availability", "availability", False),
    ("ivo://ivoa.net/std/VOSpace/v2.0#nodes", "nodes", True),
    ("ivo://ivoa.net/std/VOSpace#sync-2.1", "synctrans", True),
    ("ivo://ivoa.net/std/VOSpace/v2.0#transfers", "transfers", True),
    ("ivo://ivoa.net/std/VOSpace#files-proto", "files", True),
    ("ivo://ivoa.net/std/VOSpace#recursive-delete-proto", "recursive-delete", True),
)
_SECURITY_METHODS = (
    "ivo://ivoa.net/sso#tls-with-certificate",
    "ivo://ivoa.net/sso#token",
    "ivo://ivoa.net/sso#cookie",
)


def capabilities_document(base_url: str) -> bytes:
    """The VOSI capabilities: an anonymous interface plus one per security method."""
    root = ET.Element(
        "vosi:capabilities",
        {
            "xmlns:vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
            "xmlns:xsi": XSI_NS,
            "xmlns:vs": "http://www.ivoa.net/xml/VODataService/v1.1",
        },
    )
    for standard_id, path, secured in _CAPABILITY_IDS:
        capability = ET.SubElement(root, "capability", standardID=standard_id)
        interfaces = [()] + ([_SECURITY_METHODS] if secured else [])
        for methods in interfaces:
            interface = ET.SubElement(capability, "interface", {"xsi:type": "vs:ParamHTTP"})
            interface.set("role", "std")
            ET.SubElement(interface, "accessURL", use="base").text = f"{base_url}/{path}"
            for method in methods:
                ET.SubElement(interface, "securityMethod", standardID=method)
    return xml_bytes(root)


AVAILABILITY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
    b"<vosi:available>true</vosi:available>"
    b"<vosi:note>canfar-tui loopback VOSpace is accepting requests</vosi:note>"
    b"</vosi:availability>"
)


def document_properties(document: ET.Element) -> dict[str, str | None]:
    """Properties of a node document; ``xsi:nil`` ones map to None (delete the property)."""
    result: dict[str, str | None] = {}
    for item in document.iter(f"{{{VOS_NS}}}property"):
        uri = item.get("uri")
        if not uri:
            continue
        nil = (item.get(f"{{{XSI_NS}}}nil") or item.get("xsi:nil") or "").lower() == "true"
        result[uri] = None if nil else (item.text or "")
    return result
