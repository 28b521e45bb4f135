"""Auth on (PHOENIX_ENABLE_AUTH): Phoenix's sign-in cookie flow, credentials and their revocation,
sign-in limits, the role rules, and the official clients with API keys over HTTP and gRPC."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest
import requests

from conftest import ADMIN_SECRET, AUTH_SECRET, CREDENTIAL_CACHE_SECONDS, PROJECT_ATTR, build_sample_trace, make_tracer_provider, unique_name
from tenancy import (
    admin_secret, bearer, client_address, create_key, create_user, global_id, populated_organization, sign_in, unique_email,
)


@pytest.fixture(scope="module")
def org(auth_cinder):
    return populated_organization(auth_cinder, unique_name("auth"))


def jwt_payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def forged_jwt(payload: dict, secret: str) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode()) + "." + b64(json.dumps(payload).encode())
    return head + "." + b64(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


# --------------------------------------------------------------------------------------------------
# Sign-in, cookies, refresh, sign-out
# --------------------------------------------------------------------------------------------------


def test_every_route_needs_a_credential(auth_cinder):
    for method, path in [("get", "/v1/projects"), ("get", "/v1/user"), ("post", "/graphql"), ("post", "/v1/traces"),
                         ("get", "/v1/datasets"), ("get", "/v1/organizations")]:
        r = requests.request(method.upper(), auth_cinder.base_url + path, json={}, timeout=30)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        assert r.text == "Invalid token"
    # Health, readiness, metrics and the version stay open (probes, scrapers, clients' version check).
    for path in ["/healthz", "/readyz", "/metrics", "/arize_phoenix_version"]:
        assert auth_cinder.get(path).status_code == 200, path


def test_login_sets_phoenix_cookies_and_refresh_rotates_them(auth_cinder):
    s = requests.Session()
    r = s.post(auth_cinder.base_url + "/auth/login", json={"email": " ADMIN@Localhost ", "password": "admin"},
               headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 204 and r.content == b"", (r.status_code, r.text)
    cookies = r.raw.headers.getlist("Set-Cookie")
    by_name = {c.split("=", 1)[0]: c for c in cookies}
    assert set(by_name) == {"phoenix-access-token", "phoenix-refresh-token"}
    for name, cookie in by_name.items():
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes, cookie
        assert "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=599" in by_name["phoenix-access-token"] or "Max-Age=600" in by_name["phoenix-access-token"]
    access = s.cookies["phoenix-access-token"]
    claims = jwt_payload(access)
    assert claims["jti"].startswith("AccessToken:") and claims["org"] == "1", claims

    me = s.get(auth_cinder.base_url + "/v1/user", timeout=30).json()["data"]
    assert me["email"] == "admin@localhost" and me["role"] == "ADMIN" and me["auth_method"] == "LOCAL"
    assert me["password_needs_reset"] is True  # the default admin's initial password

    old_refresh = s.cookies["phoenix-refresh-token"]
    r = s.post(auth_cinder.base_url + "/auth/refresh", headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 204, r.text
    assert s.cookies["phoenix-refresh-token"] != old_refresh and s.cookies["phoenix-access-token"] != access
    # The old refresh token works once; the access token minted with it is revoked with it.
    replay = requests.post(auth_cinder.base_url + "/auth/refresh", cookies={"phoenix-refresh-token": old_refresh},
                           headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert (replay.status_code, replay.text) == (401, "Invalid refresh token")
    assert bearer(auth_cinder, access, "old access").get("/v1/projects").status_code == 401
    assert s.get(auth_cinder.base_url + "/v1/projects", timeout=30).status_code == 200

    r = s.get(auth_cinder.base_url + "/auth/logout", allow_redirects=False, headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 302 and r.headers["location"] == "/login"
    assert "phoenix-access-token" not in s.cookies
    missing = requests.post(auth_cinder.base_url + "/auth/refresh", headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert (missing.status_code, missing.text) == (401, "Missing refresh token")


def test_sign_in_failures_are_clear(auth_cinder):
    url = auth_cinder.base_url + "/auth/login"
    h = {"X-Forwarded-For": client_address()}
    r = requests.post(url, json={"email": "admin@localhost", "password": "nope"}, headers=h, timeout=30)
    assert (r.status_code, r.text) == (401, "Invalid email and/or password")
    r = requests.post(url, json={"email": "nobody@example.com", "password": "nope"}, headers=h, timeout=30)
    assert (r.status_code, r.text) == (401, "Invalid email and/or password")
    r = requests.post(url, json={"email": "admin@localhost"}, headers=h, timeout=30)
    assert (r.status_code, r.text) == (401, "Email and password required")
    r = requests.post(url, data="not json", headers=h | {"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text


def test_repeated_failures_lock_the_email_not_others(auth_cinder, org):
    admin = org.admin
    email, password = unique_email("locked"), "right-password"
    create_user(admin, email, password, "MEMBER")
    url = auth_cinder.base_url + "/auth/login"
    for _ in range(5):
        r = requests.post(url, json={"email": email, "password": "wrong"}, headers={"X-Forwarded-For": client_address()}, timeout=30)
        assert r.status_code == 401
    r = requests.post(url, json={"email": email, "password": password}, headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 429, r.text
    assert r.text == "Too many failed login attempts. Please try again later."
    assert 0 < int(r.headers["retry-after"]) <= 300
    # Another account signs in as usual.
    other = unique_email("unlocked")
    create_user(admin, other, password, "VIEWER")
    sign_in(auth_cinder, other, password)


def test_each_client_address_is_limited_on_auth_routes(auth_cinder):
    address = client_address()
    codes = [
        requests.post(auth_cinder.base_url + "/auth/login", json={}, headers={"X-Forwarded-For": address}, timeout=30).status_code
        for _ in range(13)
    ]
    assert codes[:12] == [401] * 12 and codes[12] == 429, codes
    # Another client is not affected.
    r = requests.post(auth_cinder.base_url + "/auth/login", json={}, headers={"X-Forwarded-For": client_address()}, timeout=30)
    assert r.status_code == 401


# --------------------------------------------------------------------------------------------------
# Credentials: malformed, forged, revoked, expired
# --------------------------------------------------------------------------------------------------


def test_bad_credentials_are_401(auth_cinder, org):
    key = org.user_key.token
    claims = jwt_payload(key)
    cases = {
        "garbage": "garbage",
        "empty": "",
        "wrong secret": forged_jwt(claims, "another-secret-0123456789abcdefghijklmnop"),
        "unknown row": forged_jwt({"jti": "ApiKey:999999", "sub": claims["sub"], "org": claims["org"], "iat": 1}, AUTH_SECRET),
        "other organization claimed": forged_jwt(claims | {"org": "1"}, AUTH_SECRET),
        "phoenix secret itself": AUTH_SECRET,
        "refresh token": org.admin.session.cookies["phoenix-refresh-token"],
    }
    for name, token in cases.items():
        r = requests.get(auth_cinder.base_url + "/v1/projects", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 401, (name, r.status_code, r.text)
    # A bad Authorization header is not rescued by a good cookie.
    r = org.admin.session.get(auth_cinder.base_url + "/v1/projects", headers={"Authorization": "Bearer garbage"}, timeout=30)
    assert r.status_code == 401
    # The session cookie alone works, and so does the access token as a bearer.
    assert org.admin.get("/v1/projects").status_code == 200
    assert bearer(auth_cinder, org.admin.session.cookies["phoenix-access-token"], "access bearer").get("/v1/projects").status_code == 200


def test_revoked_and_expired_keys_stop_working(auth_cinder, org):
    key = create_key(org.admin, "system", name="to-revoke")
    caller = bearer(auth_cinder, key, "revocable")
    assert caller.get("/v1/projects").status_code == 200
    keys = org.admin.ok("get", "/v1/system/api_keys")["data"]
    revocable = next(k for k in keys if k["name"] == "to-revoke")
    assert "key" not in revocable  # shown once, at creation
    org.admin.ok("delete", f"/v1/system/api_keys/{revocable['id']}", 204)
    # Revoked on this process at once (the credential cache is dropped here).
    r = caller.get("/v1/projects")
    assert (r.status_code, r.text) == (401, "Invalid token")

    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    expiring = bearer(auth_cinder, create_key(org.member, "user", name="short", expires_at=soon), "expiring")
    assert expiring.get("/v1/projects").status_code == 200
    time.sleep(2.5 + CREDENTIAL_CACHE_SECONDS)
    r = expiring.get("/v1/projects")
    assert (r.status_code, r.text) == (401, "Expired token")

    past = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    r = org.member.post("/v1/user/api_keys", json={"data": {"name": "late", "expires_at": past}})
    assert r.status_code == 422 and "must be in the future" in r.text
    r = org.member.post("/v1/user/api_keys", json={"data": {"name": "  "}})
    assert r.status_code == 422 and "Name cannot be empty" in r.text


def test_keys_cannot_mint_keys(auth_cinder, org):
    r = org.user_key.post("/v1/user/api_keys", json={"data": {"name": "child"}})
    assert (r.status_code, r.text) == (403, "API keys cannot create API keys")
    admin_key = bearer(auth_cinder, create_key(org.admin, "user", name="admin-own"), "admin key")
    r = admin_key.post("/v1/system/api_keys", json={"data": {"name": "child"}})
    assert (r.status_code, r.text) == (403, "API keys cannot create API keys")
    # The admin secret mints system keys (Phoenix's bootstrap workflow), not personal ones.
    assert admin_secret(auth_cinder).post("/v1/system/api_keys", json={"data": {"name": "from-secret"}}).status_code == 201
    assert admin_secret(auth_cinder).post("/v1/user/api_keys", json={"data": {"name": "x"}}).status_code == 403


# --------------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------------


def test_viewers_read_but_do_not_write(auth_cinder, org):
    for viewer in [org.viewer, bearer(auth_cinder, create_key(org.viewer, "user", name="viewer-key"), "viewer key")]:
        assert viewer.get("/v1/projects").status_code == 200
        assert viewer.get("/v1/datasets").status_code == 200
        for method, path, body in [
            ("post", "/v1/projects", {"name": unique_name("v")}),
            ("post", "/v1/span_annotations", {"data": []}),
            ("post", "/v1/prompts", {}),
            ("delete", f"/v1/projects/{global_id('Project', 1)}", None),
        ]:
            r = viewer.request(method, path, json=body)
            assert (r.status_code, r.text) == (403, "Viewers cannot perform this action."), (viewer.name, method, path, r.text)
        r = viewer.post("/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 403
        # Reads sent as POST stay open to them.
        assert viewer.post("/graphql", json={"query": "{ projectCount }"}).status_code == 200
    # A viewer's own API keys are theirs to manage.
    key = org.viewer.ok("post", "/v1/user/api_keys", 201, json={"data": {"name": "mine"}})["data"]
    org.viewer.ok("delete", f"/v1/user/api_keys/{key['id']}", 204)


def test_members_write_admins_administer(auth_cinder, org):
    project = unique_name("roles")
    org.member.ok("post", "/v1/projects", json={"name": project})
    pid = org.member.ok("get", f"/v1/projects/{project}")["data"]["id"]
    for caller in [org.member, org.user_key, org.system_key]:
        r = caller.delete(f"/v1/projects/{pid}")
        assert (r.status_code, r.text) == (403, "Only admin or system users can perform this action."), caller.name
        for path in ["/v1/users", "/v1/system/api_keys", "/v1/users/api_keys"]:
            assert caller.get(path).status_code == 403, (caller.name, path)
    org.admin.ok("delete", f"/v1/projects/{pid}", 204)
    # A member removes only their own keys; someone else's are not found.
    other = org.admin.ok("post", "/v1/user/api_keys", 201, json={"data": {"name": "admins"}})["data"]
    assert org.member.delete(f"/v1/user/api_keys/{other['id']}").status_code == 404
    org.admin.ok("delete", f"/v1/user/api_keys/{other['id']}", 204)


def test_users_api_is_scoped_to_the_organization(auth_cinder, org):
    users = org.admin.ok("get", "/v1/users")["data"]
    emails = {u["email"] for u in users}
    # The organization's people only: the default organization's admin is not listed.
    assert "admin@localhost" not in emails
    assert {u["role"] for u in users if u["email"].startswith(org.name)} == {"ADMIN", "MEMBER", "VIEWER"}
    everyone = {u["email"] for u in admin_secret(auth_cinder).ok("get", "/v1/users")["data"]}
    assert "admin@localhost" in everyone and not (everyone & emails)
    # An email that has an account anywhere cannot be created again.
    r = org.admin.post("/v1/users", json={"user": {"email": "ADMIN@localhost", "username": "x", "role": "MEMBER",
                                                   "auth_method": "LOCAL", "password": "whatever"}})
    assert (r.status_code, r.text) == (409, "Email already exists")
    r = org.admin.post("/v1/users", json={"user": {"email": unique_email("s"), "username": "s", "role": "SYSTEM",
                                                   "auth_method": "LOCAL", "password": "whatever"}})
    assert (r.status_code, r.text) == (400, "Cannot create users with SYSTEM role")
    r = org.admin.post("/v1/users", json={"user": {"email": "not-an-email", "username": "s", "role": "MEMBER",
                                                   "auth_method": "LOCAL", "password": "whatever"}})
    assert r.status_code == 400
    r = org.admin.post("/v1/users", json={"user": {"email": unique_email("short"), "username": "s", "role": "MEMBER",
                                                   "auth_method": "LOCAL", "password": "abc"}})
    assert r.status_code == 400
    # Deleting a user ends their access at once.
    email = unique_email("leaver")
    uid = create_user(org.admin, email, "leaver-pw", "MEMBER")
    leaver = sign_in(auth_cinder, email, "leaver-pw")
    key = bearer(auth_cinder, create_key(leaver, "user"), "leaver key")
    assert key.get("/v1/projects").status_code == 200
    org.admin.ok("delete", f"/v1/users/{uid}", 204)
    assert key.get("/v1/projects").status_code == 401
    assert leaver.get("/v1/projects").status_code == 401
    assert org.admin.delete(f"/v1/users/{uid}").status_code == 404


def test_admin_secret_acts_in_the_default_organization_or_the_named_one(auth_cinder, org):
    me = admin_secret(auth_cinder).ok("get", "/v1/user")["data"]
    assert me["role"] == "SYSTEM" and me["username"] == "system"
    default_projects = {p["name"] for p in admin_secret(auth_cinder).ok("get", "/v1/projects")["data"]}
    project = unique_name("secret")
    admin_secret(auth_cinder, org.name).ok("post", "/v1/projects", json={"name": project})
    assert project in {p["name"] for p in org.member.ok("get", "/v1/projects")["data"]}
    assert project not in {p["name"] for p in admin_secret(auth_cinder).ok("get", "/v1/projects")["data"]} | default_projects
    r = admin_secret(auth_cinder, "no-such-organization").get("/v1/projects")
    assert r.status_code == 404


# --------------------------------------------------------------------------------------------------
# The official clients with API keys
# --------------------------------------------------------------------------------------------------


def test_official_client_and_phoenix_otel_with_api_keys(auth_cinder, org, monkeypatch):
    from phoenix.client import Client
    from phoenix.otel import register

    key = org.system_key.token
    for protocol in ["http/protobuf", "grpc"]:
        project = unique_name("otel")
        endpoint = auth_cinder.traces_url if protocol == "http/protobuf" else f"http://{auth_cinder.grpc_endpoint}"
        provider = register(project_name=project, endpoint=endpoint, protocol=protocol, api_key=key, batch=False,
                            set_global_tracer_provider=False, verbose=False)
        tracer = provider.get_tracer("e2e")
        build_sample_trace(tracer, session_id=unique_name("s"))
        assert provider.force_flush(30_000)
        provider.shutdown()
        client = Client(base_url=auth_cinder.base_url, api_key=key)
        spans = client.spans.get_spans(project_identifier=project, limit=100)
        assert len(spans) == 3, (protocol, spans)
    # PHOENIX_API_KEY is what the client reads without an explicit key.
    monkeypatch.setenv("PHOENIX_API_KEY", key)
    datasets = Client(base_url=auth_cinder.base_url).datasets
    name = unique_name("ds")
    datasets.create_dataset(name=name, inputs=[{"q": "hi"}], outputs=[{"a": "there"}])
    assert [d["name"] for d in datasets.list() if d["name"] == name] == [name]
    monkeypatch.delenv("PHOENIX_API_KEY")
    with pytest.raises(Exception):
        Client(base_url=auth_cinder.base_url).projects.list()


def test_grpc_ingestion_answers_unauthenticated_and_permission_denied(auth_cinder, org):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    channel = grpc.insecure_channel(auth_cinder.grpc_endpoint)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    request = trace_service_pb2.ExportTraceServiceRequest()
    for metadata, code in [
        ([], grpc.StatusCode.UNAUTHENTICATED),
        ([("authorization", "Bearer garbage")], grpc.StatusCode.UNAUTHENTICATED),
        ([("api_key", org.system_key.token)], grpc.StatusCode.UNAUTHENTICATED),
        ([("authorization", "Bearer " + create_key(org.viewer, "user", name="grpc-viewer"))], grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.RpcError) as raised:
            stub.Export(request, metadata=metadata, timeout=30)
        assert raised.value.code() == code, (metadata, raised.value)
    stub.Export(request, metadata=[("authorization", "Bearer " + org.user_key.token)], timeout=30)
    channel.close()


def test_spans_go_to_the_keys_organization_whatever_they_claim(auth_cinder, org):
    project = unique_name("claims")
    pipeline = make_tracer_provider(auth_cinder, project, headers={"authorization": "Bearer " + org.user_key.token,
                                                                   "x-project-name": project})
    build_sample_trace(pipeline.tracer, session_id=unique_name("s"))
    pipeline.finish()
    assert len(org.member.ok("get", f"/v1/projects/{project}/spans")["data"]) == 3
    # The default organization (the admin secret's) has no such project.
    assert admin_secret(auth_cinder).get(f"/v1/projects/{project}").status_code == 404


# --------------------------------------------------------------------------------------------------
# GraphQL: viewer, people and keys
# --------------------------------------------------------------------------------------------------


def gql(caller, query: str, **variables):
    r = caller.graphql(query, **variables)
    assert r.status_code == 200, (caller.name, r.status_code, r.text)
    return r.json()


def gql_error(caller, query: str, **variables) -> str:
    body = gql(caller, query, **variables)
    assert body.get("errors"), (caller.name, body)
    return body["errors"][0]["message"]


def test_graphql_viewer_users_and_keys(auth_cinder, org):
    me = gql(org.member, "{ viewer { id username email role { name } authMethod passwordNeedsReset } }")["data"]["viewer"]
    assert me["role"]["name"] == "MEMBER" and me["authMethod"] == "LOCAL" and me["email"].startswith(org.name)
    system = gql(org.system_key, "{ viewer { username role { name } } }")["data"]["viewer"]
    assert system == {"username": "system", "role": {"name": "SYSTEM"}}
    assert requests.post(auth_cinder.base_url + "/graphql", json={"query": "{ viewer { id } }"}, timeout=30).status_code == 401

    users = gql(org.admin, "{ users(first: 100) { edges { node { email role { name } } } pageInfo { hasNextPage } } }")["data"]["users"]
    emails = {e["node"]["email"] for e in users["edges"]}
    assert "admin@localhost" not in emails and any(e.startswith(org.name) for e in emails)
    for caller in [org.member, org.user_key, org.system_key]:
        for field in ["users(first: 5) { edges { cursor } }", "userApiKeys { id }", "systemApiKeys { id }"]:
            assert gql_error(caller, "{ %s }" % field) == "Only admin can perform this action", (caller.name, field)
    assert gql_error(org.viewer, "{ systemApiKeys { id } }") == "Viewers cannot perform this action"


def test_graphql_key_mutations(auth_cinder, org):
    create_user_key = "mutation($i: CreateUserApiKeyInput!) { createUserApiKey(input: $i) { jwt apiKey { id name user { email } } } }"
    created = gql(org.viewer, create_user_key, i={"name": "from-graphql"})["data"]["createUserApiKey"]
    assert created["apiKey"]["name"] == "from-graphql" and created["apiKey"]["user"]["email"].startswith(org.name)
    assert bearer(auth_cinder, created["jwt"], "gql key").get("/v1/projects").status_code == 200
    assert gql_error(org.user_key, create_user_key, i={"name": "x"}) == "API keys cannot create API keys"
    assert gql_error(admin_secret(auth_cinder), create_user_key, i={"name": "x"}) == "System API keys cannot manage personal API keys"

    delete_user_key = "mutation($i: DeleteApiKeyInput!) { deleteUserApiKey(input: $i) { apiKeyId } }"
    assert gql_error(org.member, delete_user_key, i={"id": created["apiKey"]["id"]}) == "API key not found"
    gql(org.viewer, delete_user_key, i={"id": created["apiKey"]["id"]})
    assert bearer(auth_cinder, created["jwt"], "deleted gql key").get("/v1/projects").status_code == 401

    create_system_key = "mutation($i: CreateApiKeyInput!) { createSystemApiKey(input: $i) { jwt apiKey { id name expiresAt } } }"
    later = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    system = gql(org.admin, create_system_key, i={"name": "gql-system", "expiresAt": later})["data"]["createSystemApiKey"]
    assert system["apiKey"]["expiresAt"] is not None
    assert gql_error(org.member, create_system_key, i={"name": "x"}) == "Only admin can perform this action"
    assert gql_error(org.viewer, create_system_key, i={"name": "x"}) == "Viewers cannot perform this action"
    gql(org.admin, "mutation($i: DeleteApiKeyInput!) { deleteSystemApiKey(input: $i) { apiKeyId } }", i={"id": system["apiKey"]["id"]})
    assert bearer(auth_cinder, system["jwt"], "deleted system key").get("/v1/projects").status_code == 401
    # Mutations are POST only.
    r = org.admin.get("/graphql", params={"query": 'mutation { createSystemApiKey(input: {name: "x"}) { jwt } }'})
    assert "Mutations are only allowed over POST" in r.text


def test_graphql_user_mutations(auth_cinder, org):
    create = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id email role { name } passwordNeedsReset } } }"
    email = unique_email("gql-user")
    user = gql(org.admin, create, i={"email": email, "username": "gql", "password": "first-pw", "role": "VIEWER"})["data"]["createUser"]["user"]
    assert user["role"]["name"] == "VIEWER" and user["passwordNeedsReset"] is True
    assert gql_error(org.admin, create, i={"email": email, "username": "again", "password": "first-pw", "role": "VIEWER"}) == "Email already exists"
    assert gql_error(org.member, create, i={"email": unique_email("x"), "username": "x", "role": "MEMBER"}) == "Only admin can perform this action"

    patch = "mutation($i: PatchUserInput!) { patchUser(input: $i) { user { role { name } username } } }"
    patched = gql(org.admin, patch, i={"userId": user["id"], "newRole": "MEMBER", "newUsername": "renamed"})["data"]["patchUser"]["user"]
    assert patched == {"role": {"name": "MEMBER"}, "username": "renamed"}
    me = gql(org.admin, "{ viewer { id } }")["data"]["viewer"]["id"]
    assert gql_error(org.admin, patch, i={"userId": me, "newRole": "VIEWER"}) == "Cannot modify own role"

    person = sign_in(auth_cinder, email, "first-pw")
    assert gql(person, "{ viewer { role { name } } }")["data"]["viewer"]["role"]["name"] == "MEMBER"
    viewer_patch = "mutation($i: PatchViewerInput!) { patchViewer(input: $i) { user { passwordNeedsReset } } }"
    assert gql_error(person, viewer_patch, i={"newPassword": "second-pw"}) == "current_password is required when modifying password"
    assert gql_error(person, viewer_patch, i={"newPassword": "second-pw", "currentPassword": "wrong"}) == \
        "Valid current password is required to modify password"
    done = gql(person, viewer_patch, i={"newPassword": "second-pw", "currentPassword": "first-pw"})["data"]["patchViewer"]["user"]
    assert done == {"passwordNeedsReset": False}
    # A new password ends the person's sessions; the new password signs in.
    assert person.get("/v1/projects").status_code == 401
    person = sign_in(auth_cinder, email, "second-pw")

    gql(org.admin, "mutation($i: DeleteUsersInput!) { deleteUsers(input: $i) { userIds } }", i={"userIds": [user["id"]]})
    assert person.get("/v1/projects").status_code == 401
    assert gql_error(org.admin, "mutation($i: DeleteUsersInput!) { deleteUsers(input: $i) { userIds } }",
                     i={"userIds": [user["id"]]}) == "Some user IDs could not be found"


def test_an_organization_admin_cannot_take_over_or_enrol_accounts(auth_cinder, org):
    """A person in two organizations: neither organization's admin may change their password, look
    accounts up by email or enrol existing accounts; installation administrators may."""
    other = populated_organization(auth_cinder, unique_name("shared"))
    email = unique_email("both")
    uid = create_user(org.admin, email, "shared-pw", "MEMBER")
    r = other.admin.post(f"/v1/organizations/{other.id}/members", json={"email": email, "role": "VIEWER"})
    assert r.status_code == 403, r.text
    admin_secret(auth_cinder).ok("post", f"/v1/organizations/{other.id}/members", 201, json={"email": email, "role": "VIEWER"})
    r = admin_secret(auth_cinder).post(f"/v1/organizations/{other.id}/members", json={"email": email, "role": "ADMIN"})
    assert r.status_code == 409, r.text  # a member already: roles change with PATCH, under the last-admin rule
    patch = "mutation($i: PatchUserInput!) { patchUser(input: $i) { user { id } } }"
    for admin in [other.admin, org.admin]:
        message = gql_error(admin, patch, i={"userId": uid, "newPassword": "stolen-pw"})
        assert message == ("This person belongs to other organizations too: "
                           "only they or an installation administrator can change their username or password")
    sign_in(auth_cinder, email, "shared-pw")
    # Their memberships and roles are separate; switching organizations mints a new session.
    person = sign_in(auth_cinder, email, "shared-pw", organization=org.id)
    orgs = {o["id"]: o["role"] for o in person.ok("get", "/v1/organizations")["data"]}
    assert orgs == {org.id: "MEMBER", other.id: "VIEWER"}
    assert person.ok("get", "/v1/user")["data"]["role"] == "MEMBER"
    assert person.ok("get", "/v1/user")["data"]["organization_id"] == org.id
    person.ok("post", "/auth/switch", 204, json={"organization_id": other.id})
    me = person.ok("get", "/v1/user")["data"]
    assert (me["role"], me["organization_id"]) == ("VIEWER", other.id)
    assert person.post("/v1/projects", json={"name": unique_name("v")}).status_code == 403
    unknown = global_id("Organization", 987654)
    assert person.post("/auth/switch", json={"organization_id": unknown}).status_code == 404
    # An API key cannot turn itself into a session (and so into more keys).
    key = bearer(auth_cinder, create_key(person, "user"), "switching key")
    r = key.post("/auth/switch", json={"organization_id": org.id})
    assert r.status_code == 403, r.text
    # Removed from both organizations, the account is gone: nobody can adopt it.
    admin_secret(auth_cinder, other.name).ok("delete", f"/v1/users/{uid}", 204)
    org.admin.ok("delete", f"/v1/users/{uid}", 204)
    r = admin_secret(auth_cinder).post(f"/v1/organizations/{other.id}/members", json={"email": email, "role": "VIEWER"})
    assert r.status_code == 404, r.text
