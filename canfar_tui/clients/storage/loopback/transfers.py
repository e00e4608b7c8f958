"""Transfers of the loopback VOSpace service: negotiation, moves and recursive deletes.

``POST synctrans`` negotiates a synchronous transfer (push or pull) and redirects to its
transfer document, which names the ``data`` endpoint; ``POST transfers`` starts an
asynchronous move (``vmv``) and ``POST recursive-delete`` a recursive delete (``vrm -R``), both
UWS jobs run when the client sets ``PHASE=RUN``.
"""

from __future__ import annotations

import stat
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from canfar_tui.clients.storage.loopback.documents import (
    CORE,
    UWS_NS,
    VOS_NS,
    XLINK_NS,
    xml_bytes,
)
from canfar_tui.clients.storage.loopback.paths import (
    NodePath,
    PathRefused,
    VOSpaceFault,
    encode_path,
    not_found,
)
from canfar_tui.clients.storage.loopback.request_base import RequestBase

__all__ = ["Job", "TransferRoutes", "job_document"]


@dataclass
class Job:
    id: str
    kind: str  # "sync", "move" or "delete"
    target: NodePath
    direction: str = ""
    destination: NodePath | None = None
    phase: str = "PENDING"
    error: str = ""
    success_count: int = 0
    error_count: int = 0


class TransferRoutes(RequestBase):
    """The transfer endpoints: ``synctrans``, ``xfer``, ``transfers``, ``recursive-delete``."""

    def _synctrans(self, method: str, query: dict[str, list[str]]) -> None:
        store = self.server.store
        params = {key.upper(): values[0] for key, values in query.items() if values}
        if "TARGET" in params:  # the parameter form: REQUEST=redirect, straight to the bytes
            if method == "POST":
                self._small_body()
            node = store.path_from_uri(params["TARGET"])
            direction = params.get("DIRECTION", "pullFromVoSpace")
            if direction == "pullFromVoSpace":
                st = store.require(node)
                if not stat.S_ISREG(st.st_mode):
                    raise not_found(f"{store.uri(node)} has no data")
            else:
                store.require_writable(node)
                store.require_parent_container(node)
            self._redirect(f"{self.server.base_url}/data/{encode_path(node)}")
            return
        if method != "POST":
            raise VOSpaceFault(405, "OperationNotSupported", method)
        document = self._xml_body()
        target = document.findtext(f"{{{VOS_NS}}}target") or ""
        direction = (document.findtext(f"{{{VOS_NS}}}direction") or "").strip()
        node = store.path_from_uri(target.strip())
        if direction == "pullFromVoSpace":
            st = store.require(node)
            if not stat.S_ISREG(st.st_mode):
                raise not_found(f"{store.uri(node)} has no data")
        elif direction == "pushToVoSpace":
            store.require_writable(node)
            store.require_parent_container(node)
            existing = store.lstat(node)
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise VOSpaceFault(409, "DuplicateNode", f"{store.uri(node)} is a container")
        else:
            raise VOSpaceFault(400, "InvalidArgument", f"unsupported direction {direction!r}")
        job = Job(uuid.uuid4().hex, "sync", node, direction=direction, phase="EXECUTING")
        self.server.new_job(job)
        self._redirect(f"{self.server.base_url}/xfer/{job.id}")

    def _transfer_document(self, job: Job) -> bytes:
        if job.kind != "sync":
            raise VOSpaceFault(404, "NotFound", "not a synchronous transfer")
        root = ET.Element("vos:transfer", {"xmlns:vos": VOS_NS, "version": "2.1"})
        ET.SubElement(root, "vos:target").text = self.server.store.uri(job.target)
        ET.SubElement(root, "vos:direction").text = job.direction
        endpoint = f"{self.server.base_url}/data/{encode_path(job.target)}"
        verb = "get" if job.direction == "pullFromVoSpace" else "put"
        protocol = ET.SubElement(root, "vos:protocol", uri=f"{CORE}https{verb}")
        ET.SubElement(protocol, "vos:endpoint").text = endpoint
        return xml_bytes(root)

    def _transfers(self, method: str, raw_path: str) -> None:
        store = self.server.store
        parts = [part for part in raw_path.split("/") if part]
        if not parts:
            if method != "POST":
                raise VOSpaceFault(405, "OperationNotSupported", method)
            document = self._xml_body()
            source = store.path_from_uri((document.findtext(f"{{{VOS_NS}}}target") or "").strip())
            destination_uri = (document.findtext(f"{{{VOS_NS}}}direction") or "").strip()
            keep_bytes = (document.findtext(f"{{{VOS_NS}}}keepBytes") or "").strip().lower()
            if keep_bytes != "false":
                raise VOSpaceFault(400, "OperationNotSupported", "only moves are asynchronous")
            destination = store.path_from_uri(destination_uri)
            job = Job(uuid.uuid4().hex, "move", source, destination=destination)
            self.server.new_job(job)
            self._redirect(f"{self.server.base_url}/transfers/{job.id}")
            return
        job = self.server.job(parts[0])
        tail = parts[1:]
        if tail == ["phase"] and method == "POST":
            phase = phase_param(self._form_body())
            if phase == "RUN" and job.kind == "move" and job.phase == "PENDING":
                self._run_move(job)
            elif phase == "ABORT" and job.phase in ("PENDING", "QUEUED", "EXECUTING"):
                job.phase = "ABORTED"
            self._redirect(f"{self.server.base_url}/transfers/{job.id}")
        elif tail == ["phase"] and method in ("GET", "HEAD"):
            self._send(200, job.phase.encode())
        elif tail == ["error"] and method in ("GET", "HEAD"):
            self._send(200, job.error.encode())
        elif tail in ([], ["results", "transferDetails"]) and method in ("GET", "HEAD"):
            if job.kind == "sync":
                self._send(200, self._transfer_document(job), "text/xml")
            else:
                self._send(200, job_document(job), "text/xml")
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)

    def _run_move(self, job: Job) -> None:
        assert job.destination is not None
        try:
            self.server.store.move(job.target, job.destination)
            job.phase = "COMPLETED"
        except VOSpaceFault as fault:
            job.phase, job.error = "ERROR", fault.fault
        except (PathRefused, OSError):
            job.phase, job.error = "ERROR", "InternalFault"

    def _recursive_delete(self, method: str, raw_path: str) -> None:
        store = self.server.store
        parts = [part for part in raw_path.split("/") if part]
        if not parts:
            if method != "POST":
                raise VOSpaceFault(405, "OperationNotSupported", method)
            form = {key.lower(): values for key, values in self._form_body().items()}
            target = store.path_from_uri((form.get("target") or [""])[0])
            store.require(target)
            job = Job(uuid.uuid4().hex, "delete", target)
            self.server.new_job(job)
            self._redirect(f"{self.server.base_url}/recursive-delete/{job.id}")
            return
        job = self.server.job(parts[0], "delete")
        tail = parts[1:]
        if tail == ["phase"] and method == "POST":
            if phase_param(self._form_body()) == "RUN" and job.phase == "PENDING":
                try:
                    job.success_count, job.error_count = store.delete_tree(job.target)
                    job.phase = "COMPLETED"
                except VOSpaceFault as fault:
                    job.phase, job.error = "ERROR", f"{fault.fault}: {fault.detail}"
            self._redirect(f"{self.server.base_url}/recursive-delete/{job.id}")
        elif tail == ["phase"] and method in ("GET", "HEAD"):
            self._send(200, job.phase.encode())
        elif not tail and method in ("GET", "HEAD"):
            self._send(200, job_document(job), "text/xml")
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)


def phase_param(form: dict[str, list[str]]) -> str:
    for key, values in form.items():
        if key.lower() == "phase" and values:
            return values[0].strip().upper()
    return ""


def job_document(job: Job) -> bytes:
    root = ET.Element("uws:job", {"xmlns:uws": UWS_NS, "xmlns:xlink": XLINK_NS})
    ET.SubElement(root, "uws:jobId").text = job.id
    ET.SubElement(root, "uws:phase").text = job.phase
    if job.kind == "delete" and job.phase == "COMPLETED":
        results = ET.SubElement(root, "uws:results")
        # vos reads the counts as strings, so any errorcount (even "0") fails vrm -R: omit zero
        counts = [("successcount", job.success_count)]
        if job.error_count:
            counts.append(("errorcount", job.error_count))
        for name, count in counts:
            attributes = {"id": name, "xlink:href": f"final:{count}"}
            ET.SubElement(results, "uws:result", attributes)
    if job.phase == "ERROR":
        summary = ET.SubElement(root, "uws:errorSummary", type="fatal")
        ET.SubElement(summary, "uws:message").text = job.error
    return xml_bytes(root)
