"""Logging in to OpenStack for :class:`~canfar_tui.clients.cloud.openstack.OpenStackCloud`.

The source of a login is either OS_* style credentials (from variables, an openrc file or a
login screen) or a ``clouds.yaml`` cloud. The functions here build openstacksdk's
configuration for it, tell whether it lacks a password, open a connection and list the user's
projects. Every one but :func:`label_from_url` and :func:`default_label` runs in a worker
thread and imports openstacksdk there (it costs ~0.4 s).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from canfar_tui.clients.cloud.openrc import OpenStackCredentials
from canfar_tui.clients.cloud.openstack_convert import to_project
from canfar_tui.models import Project

__all__ = [
    "cloud_region",
    "clouds_yaml_login",
    "connect",
    "default_label",
    "label_from_url",
    "user_projects",
]

# An SDK connection is a dynamic object (see openstack.py).
_Conn = Any


def label_from_url(auth_url: str) -> str | None:
    """``arbutus`` from ``https://arbutus.cloud.computecanada.ca:5000``; None for an address."""
    host = urlsplit(auth_url).hostname or ""
    if not host or host == "localhost":
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return None
    return host.split(".", 1)[0]


def default_label(credentials: OpenStackCredentials | None) -> str:
    """The header badge of a cloud: the Keystone host's first label, else the region."""
    if credentials is None:
        return "OpenStack"
    return label_from_url(credentials.auth_url) or credentials.region_name or "OpenStack"


def cloud_region(
    *,
    credentials: OpenStackCredentials | None,
    cloud: str | None,
    clouds_yaml: Path | None,
    verify_tls: bool,
    api_timeout: float,
    auth: Mapping[str, Any],
) -> Any:
    """openstacksdk's CloudRegion for the source, with ``auth`` options overriding.

    ``verify_tls`` False turns certificate checks off even when the source asks for them.
    """
    from openstack import config as os_config

    if cloud is not None:
        files = [str(clouds_yaml)] if clouds_yaml is not None else None
        loader = os_config.OpenStackConfig(config_files=files, load_envvars=False)
        insecure: dict[str, Any] = {} if verify_tls else {"verify": False}
        return loader.get_one(cloud=cloud, auth=dict(auth), api_timeout=api_timeout, **insecure)
    assert credentials is not None
    extra: dict[str, Any] = {"verify": credentials.verify and verify_tls}
    for key in ("region_name", "interface", "cacert"):
        value = getattr(credentials, key)
        if value:
            extra[key] = value
    loader = os_config.OpenStackConfig(load_yaml_config=False, load_envvars=False)
    return loader.get_one(
        auth_type=credentials.auth_type if credentials.auth_type != "v3password" else "password",
        auth={**credentials.auth_options(), **auth},
        api_timeout=api_timeout,
        **extra,
    )


def clouds_yaml_login(cloud: str | None, clouds_yaml: Path | None) -> tuple[bool, str]:
    """Whether the clouds.yaml cloud lacks a password, and its user's name ("?": none)."""
    from openstack import config as os_config

    files = [str(clouds_yaml)] if clouds_yaml is not None else None
    loader = os_config.OpenStackConfig(config_files=files, load_envvars=False)
    region = loader.get_one(cloud=cloud, validate=False)
    auth = region.config.get("auth") or {}
    user_label = str(auth.get("username") or auth.get("user_id") or "?")
    auth_type = str(region.config.get("auth_type") or "password")
    return auth_type in ("password", "v3password") and not auth.get("password"), user_label


def connect(config: Any) -> tuple[_Conn, Project | None]:
    """Authenticate with ``config`` (a CloudRegion); the project None when the token is unscoped."""
    import openstack

    from canfar_tui import __version__

    conn: _Conn = openstack.connection.Connection(
        config=config, app_name="canfar-tui", app_version=__version__
    )
    access = conn.session.auth.get_access(conn.session)
    if access.project_id:
        return conn, Project(id=access.project_id, name=access.project_name or "")
    return conn, None


def user_projects(conn: _Conn) -> list[Project]:
    """The user's projects by name (``GET /v3/auth/projects``, what Horizon's menu shows)."""
    from keystoneauth1 import plugin

    response = conn.session.get(
        "/auth/projects",
        endpoint_filter={"interface": plugin.AUTH_INTERFACE, "version": (3, 0)},
    )
    projects = [to_project(item) for item in response.json().get("projects", [])]
    projects.sort(key=lambda project: (project.name.lower(), project.id))
    return projects
