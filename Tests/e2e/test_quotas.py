"""Per-organization ingestion quotas: an organization over its rate gets 429 (gRPC RESOURCE_EXHAUSTED
with RetryInfo) and nothing of those requests is stored; the other organization is not slowed."""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import pytest

from conftest import PROJECT_ATTR, unique_name
from tenancy import admin_secret, populated_organization


def otlp(project: str, spans: int) -> dict:
    now = time.time_ns()
    trace = uuid.uuid4().hex
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": PROJECT_ATTR, "value": {"stringValue": project}}]},
        "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": uuid.uuid4().hex[:16], "name": f"s{i}", "kind": 1,
             "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)} for i in range(spans)]}],
    }]}


def stored(caller, project: str) -> int:
    r = caller.get(f"/v1/projects/{project}/spans", params={"limit": 1000})
    return 0 if r.status_code == 404 else len(r.json()["data"])


def test_a_flooded_organization_gets_429_and_the_other_none(auth_cinder):
    flooded = populated_organization(auth_cinder, unique_name("flood"))
    calm = populated_organization(auth_cinder, unique_name("calm"))
    secret = admin_secret(auth_cinder)
    secret.ok("put", f"/v1/organizations/{flooded.id}/quotas", json={"spans_per_second": 100, "burst_spans": 200})
    assert secret.ok("get", f"/v1/organizations/{flooded.id}/quotas")["data"] == {
        "spans_per_second": 100, "burst_spans": 200, "max_request_bytes": None}
    assert flooded.member.put(f"/v1/organizations/{flooded.id}/quotas", json={"spans_per_second": 1}).status_code == 403

    flood_project, calm_project = unique_name("flood"), unique_name("calm")
    accepted, refused, calm_codes = [], [], []

    def flood():
        for _ in range(30):
            r = flooded.user_key.post("/v1/traces", json=otlp(flood_project, 50))
            if r.status_code == 200:
                accepted.append(50)
            else:
                assert r.status_code == 429, r.text
                assert int(r.headers["retry-after"]) >= 1
                refused.append(50)

    def steady():
        for _ in range(10):
            calm_codes.append(calm.user_key.post("/v1/traces", json=otlp(calm_project, 50)).status_code)
            time.sleep(0.05)

    threads = [threading.Thread(target=flood), threading.Thread(target=steady)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refused, "the flood was never limited"
    assert calm_codes == [200] * 10
    # What was acknowledged is exactly what is stored; refused requests left nothing.
    assert stored(flooded.member, flood_project) == sum(accepted)
    assert stored(calm.member, calm_project) == 500
    # The burst (200) plus the rate over the flood's duration bounds what got in.
    assert sum(accepted) <= 200 + 100 * 30

    # gRPC: RESOURCE_EXHAUSTED with RetryInfo, which OTLP exporters honour.
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        common_pb2.KeyValue(key=PROJECT_ATTR, value=common_pb2.AnyValue(string_value=flood_project)))
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for i in range(500):
        scope.spans.append(trace_pb2.Span(trace_id=uuid.uuid4().bytes, span_id=uuid.uuid4().bytes[:8], name=f"g{i}",
                                          start_time_unix_nano=now, end_time_unix_nano=now + 1000))
    channel = grpc.insecure_channel(auth_cinder.grpc_endpoint)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    codes = []
    for _ in range(3):
        try:
            stub.Export(request, metadata=[("authorization", "Bearer " + flooded.user_key.token)], timeout=30)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                details = dict(e.trailing_metadata() or ())
                assert "grpc-status-details-bin" in details
    channel.close()
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes


def test_an_organizations_request_size_limit(auth_cinder):
    org = populated_organization(auth_cinder, unique_name("small"))
    admin_secret(auth_cinder).ok("put", f"/v1/organizations/{org.id}/quotas", json={"max_request_bytes": 2000})
    project = unique_name("small")
    assert org.user_key.post("/v1/traces", json=otlp(project, 2)).status_code == 200
    r = org.user_key.post("/v1/traces", json=otlp(project, 40))
    assert r.status_code == 413, r.text
    assert stored(org.member, project) == 2
    r = admin_secret(auth_cinder).put(f"/v1/organizations/{org.id}/quotas", json={"spans_per_second": 0})
    assert r.status_code == 422
