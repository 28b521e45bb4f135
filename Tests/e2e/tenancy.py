"""Helpers for tests with auth on: signing in, people, keys and organizations, through the API
users call (no back door)."""

from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import requests

from conftest import ADMIN_SECRET, CinderServer

_addresses = itertools.count(1)


def client_address() -> str:
    """A distinct client address per sign-in (sent as X-Forwarded-For, which Cinder trusts from a
    proxy on its own host), so the per-client limit on /auth routes does not throttle the suite."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def global_id(type_name: str, row_id: int | str) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def row_id(gid: str) -> int:
    return int(base64.b64decode(gid).decode().rsplit(":", 1)[1])


@dataclass
class Caller:
    """One principal: a signed-in session (cookies), or a bearer token (API key, admin secret)."""

    server: CinderServer
    name: str
    session: requests.Session = field(default_factory=requests.Session)
    token: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        headers = dict(self.headers)
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(kw.pop("headers", {}) or {})
        return self.session.request(method.upper(), self.base_url + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("get", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("post", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("put", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("patch", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("delete", path, **kw)

    def graphql(self, query: str, **variables: Any) -> requests.Response:
        return self.post("/graphql", json={"query": query, "variables": variables})

    def ok(self, method: str, path: str, status: Optional[int] = None, **kw: Any) -> Any:
        """The answer's JSON (or the response), after checking its status (any 2xx without one)."""
        r = self.request(method, path, **kw)
        good = r.status_code == status if status is not None else 200 <= r.status_code < 300
        assert good, f"{self.name}: {method.upper()} {path} → {r.status_code} {r.text[:300]}"
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r


def sign_in(server: CinderServer, email: str, password: str, organization: Optional[str] = None, name: str = "") -> Caller:
    caller = Caller(server, name or email)
    body: dict[str, Any] = {"email": email, "password": password}
    if organization:
        body["organization_id"] = organization
    r = caller.session.post(server.base_url + "/auth/login", json=body, headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 204, f"sign-in of {email}: {r.status_code} {r.text}"
    return caller


def admin_secret(server: CinderServer, organization: Optional[str] = None) -> Caller:
    caller = Caller(server, "admin-secret", token=ADMIN_SECRET)
    if organization:
        caller.headers["x-cinder-organization"] = organization
    return caller


def bearer(server: CinderServer, token: str, name: str) -> Caller:
    return Caller(server, name, token=token)


def create_organization(server: CinderServer, name: str, admin_email: str, admin_password: str) -> str:
    body = admin_secret(server).ok(
        "post", "/v1/organizations", 201, json={"name": name, "admin": {"email": admin_email, "password": admin_password}})
    return body["data"]["id"]


def create_user(admin: Caller, email: str, password: str, role: str) -> str:
    body = admin.ok(
        "post", "/v1/users", 201,
        json={"user": {"email": email, "username": email.split("@")[0], "role": role, "auth_method": "LOCAL", "password": password},
              "send_welcome_email": False})
    return body["data"]["id"]


def create_key(caller: Caller, kind: str = "user", name: str = "key", expires_at: Optional[str] = None) -> str:
    data: dict[str, Any] = {"name": name}
    if expires_at:
        data["expires_at"] = expires_at
    body = caller.ok("post", f"/v1/{kind}/api_keys", 201, json={"data": data})
    return body["data"]["key"]


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Organization:
    """An organization with one person of each role, signed in, and a user and a system key."""

    id: str
    name: str
    admin: Caller
    member: Caller
    viewer: Caller
    user_key: Caller
    system_key: Caller

    @property
    def principals(self) -> list[Caller]:
        return [self.admin, self.member, self.viewer, self.user_key, self.system_key]


def populated_organization(server: CinderServer, name: str) -> Organization:
    password = "pw-" + uuid.uuid4().hex[:12]
    admin_email = unique_email(f"{name}-admin")
    org_id = create_organization(server, name, admin_email, password)
    admin = sign_in(server, admin_email, password, name=f"{name}/admin")
    member_email, viewer_email = unique_email(f"{name}-member"), unique_email(f"{name}-viewer")
    create_user(admin, member_email, password, "MEMBER")
    create_user(admin, viewer_email, password, "VIEWER")
    member = sign_in(server, member_email, password, name=f"{name}/member")
    viewer = sign_in(server, viewer_email, password, name=f"{name}/viewer")
    user_key = bearer(server, create_key(member, "user"), f"{name}/member-key")
    system_key = bearer(server, create_key(admin, "system"), f"{name}/system-key")
    return Organization(org_id, name, admin, member, viewer, user_key, system_key)
