#!/usr/bin/env python3
"""Regenerates Libraries/CinderAPI/Generated/OpenAPIDocument.swift: the OpenAPI document that
`cinder serve` and `cinder-api` answer at GET /openapi.json.

Cinder's REST API (/v1) re-implements a subset of Arize Phoenix's, so its description is Phoenix's own
OpenAPI document cut down to the operations Cinder routes (PHOENIX_OPERATIONS below), with only the
component schemas those operations reference, plus hand-written operations for Cinder's own routes
(CINDER_OPERATIONS). Phoenix's document is reference data that is not part of this repository (like the
OTLP .proto files behind scripts/generate-protos.sh); only this script and its output are committed.

Usage:
    python3 scripts/generate-openapi.py [path/to/phoenix/openapi.json]

The default input is ../shared/phoenix-reference/openapi.json next to the repository. Standard library
only; the output is deterministic (sorted keys), so running it twice gives the same file.

When Cinder gains or loses a route, update PHOENIX_OPERATIONS / CINDER_OPERATIONS and rerun;
Tests/e2e/test_openapi.py checks the document against the running server in both directions.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT.parent / "shared" / "phoenix-reference" / "openapi.json"
OUTPUT = ROOT / "Libraries" / "CinderAPI" / "Generated" / "OpenAPIDocument.swift"
PHOENIX_API_SWIFT = ROOT / "Libraries" / "CinderAPI" / "PhoenixAPI.swift"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# --------------------------------------------------------------------------------------------------
# Phoenix operations Cinder routes, as (path template in Phoenix's document, method). Cinder's router
# names path parameters differently (`:project`, `:id`, …); the templates below are Phoenix's.
# --------------------------------------------------------------------------------------------------

PHOENIX_OPERATIONS: list[tuple[str, str]] = [
    # ProjectsAPI.swift (not PATCH /v1/projects/{project_identifier}/retention)
    ("/v1/projects", "get"),
    ("/v1/projects", "post"),
    ("/v1/projects/{project_identifier}", "get"),
    ("/v1/projects/{project_identifier}", "put"),
    ("/v1/projects/{project_identifier}", "delete"),
    # SpansAPI.swift
    ("/v1/projects/{project_identifier}/spans", "get"),
    ("/v1/projects/{project_identifier}/spans/otlpv1", "get"),
    ("/v1/projects/{project_identifier}/spans", "post"),
    ("/v1/spans/{span_identifier}", "delete"),
    # TracesAPI.swift
    ("/v1/projects/{project_identifier}/traces", "get"),
    ("/v1/projects/{project_identifier}/traces", "delete"),
    ("/v1/traces/{trace_identifier}", "delete"),
    ("/v1/traces/transfer", "post"),
    # SessionsAPI.swift
    ("/v1/projects/{project_identifier}/sessions", "get"),
    ("/v1/sessions/{session_identifier}", "get"),
    ("/v1/sessions/{session_identifier}", "delete"),
    ("/v1/sessions/delete", "post"),
    # AnnotationsAPI.swift
    ("/v1/span_annotations", "post"),
    ("/v1/document_annotations", "post"),
    ("/v1/trace_annotations", "post"),
    ("/v1/session_annotations", "post"),
    ("/v1/projects/{project_identifier}/span_annotations", "get"),
    ("/v1/projects/{project_identifier}/span_annotations", "delete"),
    ("/v1/projects/{project_identifier}/trace_annotations", "get"),
    ("/v1/projects/{project_identifier}/trace_annotations", "delete"),
    ("/v1/projects/{project_identifier}/session_annotations", "get"),
    ("/v1/projects/{project_identifier}/session_annotations", "delete"),
    ("/v1/span_notes", "post"),
    ("/v1/trace_notes", "post"),
    ("/v1/session_notes", "post"),
    # AnnotationConfigsAPI.swift
    ("/v1/annotation_configs", "get"),
    ("/v1/annotation_configs", "post"),
    ("/v1/annotation_configs/{config_identifier}", "get"),
    ("/v1/annotation_configs/{config_id}", "put"),
    ("/v1/annotation_configs/{config_id}", "delete"),
    ("/v1/projects/{project_identifier}/annotation_configs", "get"),
    ("/v1/projects/{project_identifier}/annotation_configs", "put"),
    ("/v1/projects/{project_identifier}/annotation_configs/{config_identifier}", "put"),
    ("/v1/projects/{project_identifier}/annotation_configs/{config_identifier}", "delete"),
    # DatasetsAPI.swift
    ("/v1/datasets", "get"),
    ("/v1/datasets/{id}", "get"),
    ("/v1/datasets/{id}", "delete"),
    ("/v1/datasets/{id}/versions", "get"),
    ("/v1/datasets/{id}/examples", "get"),
    ("/v1/datasets/{id}/csv", "get"),
    ("/v1/datasets/{id}/jsonl", "get"),
    ("/v1/datasets/{id}/jsonl/openai_ft", "get"),
    ("/v1/datasets/{id}/jsonl/openai_evals", "get"),
    # DatasetUpload.swift
    ("/v1/datasets/upload", "post"),
    # DatasetSplitsAPI.swift
    ("/v1/datasets/{dataset_identifier}/splits", "get"),
    ("/v1/datasets/{dataset_identifier}/splits", "post"),
    ("/v1/datasets/{dataset_identifier}/splits/{split_id}", "patch"),
    ("/v1/datasets/{dataset_identifier}/splits/{split_id}", "delete"),
    ("/v1/dataset_labels", "get"),
    ("/v1/dataset_labels", "post"),
    ("/v1/dataset_labels/{label_id}", "get"),
    ("/v1/dataset_labels/{label_id}", "patch"),
    ("/v1/dataset_labels/{label_id}", "delete"),
    ("/v1/datasets/{dataset_identifier}/labels", "get"),
    ("/v1/datasets/{dataset_identifier}/labels", "put"),
    ("/v1/datasets/{dataset_identifier}/labels/{label_id}", "put"),
    ("/v1/datasets/{dataset_identifier}/labels/{label_id}", "delete"),
    # ExperimentsAPI.swift
    ("/v1/datasets/{dataset_id}/experiments", "post"),
    ("/v1/datasets/{dataset_id}/experiments", "get"),
    ("/v1/experiments/{experiment_id}", "get"),
    ("/v1/experiments/{experiment_id}", "patch"),
    ("/v1/experiments/{experiment_id}", "delete"),
    ("/v1/experiments/{experiment_id}/runs", "post"),
    ("/v1/experiments/{experiment_id}/runs", "get"),
    ("/v1/experiments/{experiment_id}/incomplete-runs", "get"),
    ("/v1/experiments/{experiment_id}/incomplete-evaluations", "get"),
    ("/v1/experiment_evaluations", "post"),
    ("/v1/experiments/{experiment_id}/tags", "get"),
    ("/v1/experiments/{experiment_id}/tags", "post"),
    ("/v1/experiments/{experiment_id}/tags/{tag_identifier}", "delete"),
    ("/v1/experiments/{experiment_id}/json", "get"),
    ("/v1/experiments/{experiment_id}/csv", "get"),
    # PromptsAPI.swift
    ("/v1/prompts", "get"),
    ("/v1/prompts", "post"),
    ("/v1/prompts/{prompt_identifier}", "patch"),
    ("/v1/prompts/{prompt_identifier}", "delete"),
    ("/v1/prompts/{prompt_identifier}/versions", "get"),
    ("/v1/prompts/{prompt_identifier}/versions", "post"),
    ("/v1/prompts/{prompt_identifier}/latest", "get"),
    ("/v1/prompts/{prompt_identifier}/tags/{tag_name}", "get"),
    ("/v1/prompt_versions/{prompt_version_id}", "get"),
    ("/v1/prompt_versions/{prompt_version_id}/tags", "get"),
    ("/v1/prompt_versions/{prompt_version_id}/tags", "post"),
    ("/v1/prompt_versions/{prompt_version_id}/tags/{tag_name}", "delete"),
    # UsersAPI.swift
    ("/v1/user", "get"),
    ("/v1/users", "get"),
    ("/v1/users", "post"),
    ("/v1/users/{user_id}", "delete"),
    # APIKeysAPI.swift
    ("/v1/user/api_keys", "get"),
    ("/v1/user/api_keys", "post"),
    ("/v1/user/api_keys/{api_key_id}", "delete"),
    ("/v1/users/api_keys", "get"),
    ("/v1/system/api_keys", "get"),
    ("/v1/system/api_keys", "post"),
    ("/v1/system/api_keys/{api_key_id}", "delete"),
    # ModelsAPI.swift
    ("/v1/model_providers", "get"),
    ("/v1/custom_model_providers", "get"),
    ("/v1/secrets", "put"),
    ("/v1/chat/completions", "post"),
]

# --------------------------------------------------------------------------------------------------
# Cinder's own operations: routes Phoenix's document does not describe.
# --------------------------------------------------------------------------------------------------

TEXT = {"text/plain": {"schema": {"type": "string"}}}
VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}


def text_response(description: str, example: str | None = None) -> dict:
    schema: dict = {"type": "string"}
    if example is not None:
        schema["examples"] = [example]
    return {"description": description, "content": {"text/plain": {"schema": schema}}}


def phoenix_version() -> str | None:
    """The Phoenix release Cinder reports, read from PhoenixAPI.swift (an example value only)."""
    try:
        match = re.search(r'phoenixVersion\s*=\s*"([^"]+)"', PHOENIX_API_SWIFT.read_text())
    except OSError:
        return None
    return match.group(1) if match else None


# Schemas of Cinder's own operations. Their names must not collide with Phoenix's (checked below).
CINDER_SCHEMAS: dict[str, dict] = {
    "OTLPExportTraceServiceResponse": {
        "title": "OTLPExportTraceServiceResponse",
        "description": "OTLP/HTTP JSON ExportTraceServiceResponse. `{}` when every span was accepted; "
        "`partialSuccess` when some were rejected (rejectedSpans is an int64, so a JSON string).",
        "type": "object",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {
                    "rejectedSpans": {"type": "string", "pattern": "^[0-9]+$"},
                    "errorMessage": {"type": "string"},
                },
            }
        },
    },
    "OTLPExportTraceServiceRequest": {
        "title": "OTLPExportTraceServiceRequest",
        "description": "OTLP/HTTP JSON ExportTraceServiceRequest (the protobuf message in its JSON mapping: "
        "lowerCamelCase field names, trace and span ids in hex, int64 values as strings).",
        "type": "object",
        "properties": {
            "resourceSpans": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": {"type": "object"},
                        "scopeSpans": {"type": "array", "items": {"type": "object"}},
                        "schemaUrl": {"type": "string"},
                    },
                },
            }
        },
    },
    "LoginRequestBody": {
        "title": "LoginRequestBody",
        "type": "object",
        "required": ["email", "password"],
        "properties": {
            "email": {"type": "string"},
            "password": {"type": "string"},
            "organization_id": {"type": "string", "description": "An Organization GlobalID (Cinder's addition)."},
        },
    },
    "SwitchOrganizationRequestBody": {
        "title": "SwitchOrganizationRequestBody",
        "type": "object",
        "required": ["organization_id"],
        "properties": {"organization_id": {"type": "string", "description": "An Organization GlobalID."}},
    },
    "Organization": {
        "title": "Organization",
        "type": "object",
        "required": ["id", "name", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "role": {"type": "string", "enum": ["ADMIN", "MEMBER", "VIEWER"], "description": "The caller's role there (in lists)."},
        },
    },
    "OrganizationResponseBody": {
        "title": "OrganizationResponseBody",
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"$ref": "#/components/schemas/Organization"}},
    },
    "OrganizationsResponseBody": {
        "title": "OrganizationsResponseBody",
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Organization"}}},
    },
    "CreateOrganizationRequestBody": {
        "title": "CreateOrganizationRequestBody",
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "admin": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string"}, "username": {"type": "string"}, "password": {"type": "string"}},
            },
        },
    },
    "RenameOrganizationRequestBody": {
        "title": "RenameOrganizationRequestBody",
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    },
    "AddOrganizationMemberRequestBody": {
        "title": "AddOrganizationMemberRequestBody",
        "type": "object",
        "required": ["email", "role"],
        "properties": {"email": {"type": "string"}, "role": {"type": "string", "enum": ["ADMIN", "MEMBER", "VIEWER"]}},
    },
    "IngestionQuota": {
        "title": "IngestionQuota",
        "type": "object",
        "properties": {
            "spans_per_second": {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
            "burst_spans": {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
            "max_request_bytes": {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
        },
    },
    "IngestionQuotaResponseBody": {
        "title": "IngestionQuotaResponseBody",
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"$ref": "#/components/schemas/IngestionQuota"}},
    },
    "OrganizationRoleRequestBody": {
        "title": "OrganizationRoleRequestBody",
        "type": "object",
        "required": ["role"],
        "properties": {"role": {"type": "string", "enum": ["ADMIN", "MEMBER", "VIEWER"]}},
    },
    "StartExperimentJobRequestBody": {
        "title": "StartExperimentJobRequestBody",
        "type": "object",
        "required": ["dataset_id"],
        "properties": {
            "dataset_id": {"type": "string"},
            "version_id": {"type": "string", "description": "A DatasetVersion GlobalID; the latest by default."},
            "splits": {"type": "array", "items": {"type": "string"}, "description": "Split names or GlobalIDs."},
            "prompt_version_id": {"type": "string", "description": "A stored prompt version to run."},
            "prompt": {"type": "object", "description": "Or a prompt given inline, in the shape of a prompt version "
                       "(model_provider, model_name, template, template_type, template_format, invocation_parameters, tools, "
                       "response_format)."},
            "repetitions": {"type": "integer", "minimum": 1, "default": 1},
            "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "metadata": {"type": "object"},
        },
    },
    "ExperimentJob": {
        "title": "ExperimentJob",
        "type": "object",
        "required": ["experiment_id", "status", "max_concurrency", "progress", "errors"],
        "properties": {
            "experiment_id": {"type": "string"},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETED", "STOPPED", "ERROR"]},
            "max_concurrency": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "experiment": {"type": "object", "description": "The experiment, as GET /v1/experiments/{id} returns it."},
            "progress": {
                "type": "object",
                "properties": {k: {"type": "integer"} for k in ("expected_runs", "successful_runs", "failed_runs", "missing_runs")},
            },
            "last_error": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "occurred_at": {"type": "string", "format": "date-time"}, "category": {"type": "string"},
                "level": {"type": "string"}, "message": {"type": "string"}, "detail": {}}}},
            "task": {"type": "object", "description": "The prompt the job runs, as it was when the job started."},
        },
    },
    "ExperimentJobResponseBody": {
        "title": "ExperimentJobResponseBody",
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"$ref": "#/components/schemas/ExperimentJob"}},
    },
    "GraphQLRequest": {
        "title": "GraphQLRequest",
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "description": "The GraphQL document."},
            "variables": {"anyOf": [{"type": "object"}, {"type": "null"}], "description": "Variable values by name."},
            "operationName": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "The operation to run when the document has several.",
            },
        },
    },
    "GraphQLResponse": {
        "title": "GraphQLResponse",
        "type": "object",
        "properties": {
            "data": {"description": "The result, shaped like the query; null or absent when execution failed."},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "locations": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"line": {"type": "integer"}, "column": {"type": "integer"}},
                            },
                        },
                        "path": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                        "extensions": {"type": "object"},
                    },
                },
            },
        },
    },
    "SpanQueryRequest": {
        "title": "SpanQueryRequest",
        "description": "The span query the Python client's `get_spans_dataframe` sends.",
        "type": "object",
        "required": ["queries"],
        "properties": {
            "queries": {
                "type": "array",
                "description": "One result part per query.",
                "items": {
                    "type": "object",
                    "properties": {
                        "select": {
                            "type": "object",
                            "description": "Output column name → {\"key\": span field or attribute}.",
                            "additionalProperties": {"type": "object", "properties": {"key": {"type": "string"}}},
                        },
                        "filter": {
                            "type": "object",
                            "properties": {"condition": {"type": "string", "description": "A Python-like filter expression."}},
                        },
                        "index": {"type": "object", "properties": {"key": {"type": "string", "default": "context.span_id"}}},
                        "rename": {"type": "object", "additionalProperties": {"type": "string"}},
                        "explode": {
                            "type": "object",
                            "properties": {
                                "key": {"type": "string"},
                                "primary_index_key": {"type": "string", "default": "context.span_id"},
                                "kwargs": {"type": "object"},
                            },
                        },
                        "concat": {
                            "type": "object",
                            "properties": {
                                "key": {"type": "string"},
                                "separator": {"type": "string", "default": "\n\n"},
                                "kwargs": {"type": "object"},
                            },
                        },
                    },
                },
            },
            "start_time": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "end_time": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "stop_time": {
                "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                "description": "Older clients' name for end_time.",
            },
            "limit": {
                "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
                "default": 1000,
                "description": "Spans per query, newest first; null for no limit.",
            },
            "root_spans_only": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
        },
    },
}


def json_response(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


UNAUTHENTICATED = text_response("No valid credential (`WWW-Authenticate: Bearer`)", "Invalid token")
FORBIDDEN = text_response("The caller's role does not allow it", "Only admin or system users can perform this action.")


def path_id(name: str, node: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": f"The {node} GlobalID."}


def organization_operations() -> dict[str, dict[str, dict]]:
    """Cinder's sign-in session routes and its organizations API (Phoenix has one organization)."""
    session_cookies = {"description": "Signed in; `Set-Cookie` carries phoenix-access-token and phoenix-refresh-token"}
    org_id = path_id("organization_id", "Organization")
    user_id = path_id("user_id", "User")
    members_page = [
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "default": 100, "exclusiveMinimum": 0}},
    ]
    role_body = json_body(ref("OrganizationRoleRequestBody"))
    return {
        "/auth/login": {
            "post": {
                "tags": ["auth"],
                "summary": "Sign in with a password",
                "description": "Phoenix's sign-in: answers 204 with the session cookies. `organization_id` (Cinder's "
                "addition) chooses the organization the session acts in; by default the person's first one. After 5 "
                "failed attempts for an email, attempts for it are refused with 429 for 5 minutes; each client may "
                "call the /auth routes 12 times at once, then once every 5 seconds (429).",
                "operationId": "login",
                "requestBody": json_body(ref("LoginRequestBody")),
                "responses": {
                    "204": session_cookies,
                    "400": text_response("The body is not a JSON object"),
                    "401": text_response("Wrong email or password", "Invalid email and/or password"),
                    "429": text_response("Too many attempts (`Retry-After`)"),
                },
            }
        },
        "/auth/refresh": {
            "post": {
                "tags": ["auth"],
                "summary": "Renew the session",
                "description": "Trades the phoenix-refresh-token cookie for new cookies; the old refresh token (and the "
                "access tokens minted from it) stop working.",
                "operationId": "refreshTokens",
                "responses": {
                    "204": session_cookies,
                    "401": text_response("Missing, invalid, used or expired refresh token", "Invalid refresh token"),
                    "429": text_response("Too many requests (`Retry-After`)"),
                },
            }
        },
        "/auth/logout": {
            "get": {
                "tags": ["auth"],
                "summary": "Sign out",
                "description": "Ends every session of the signed-in person (API keys stay valid), clears the cookies and "
                "redirects to /login.",
                "operationId": "logout",
                "responses": {"302": {"description": "Signed out; `Location: /login`"}},
            }
        },
        "/auth/switch": {
            "post": {
                "tags": ["auth"],
                "summary": "Switch organization",
                "description": "Opens a session in another organization of the signed-in person (or any, for installation "
                "administrators) and answers its cookies.",
                "operationId": "switchOrganization",
                "requestBody": json_body(ref("SwitchOrganizationRequestBody")),
                "responses": {
                    "204": session_cookies,
                    "401": UNAUTHENTICATED,
                    "403": text_response("Not a signed-in person"),
                    "404": text_response("Not one of the person's organizations"),
                },
            }
        },
        "/v1/organizations": {
            "get": {
                "tags": ["organizations"],
                "summary": "List organizations",
                "description": "Installation administrators see every organization; others the ones they belong to, with their role.",
                "operationId": "listOrganizations",
                "responses": {"200": json_response("The organizations", ref("OrganizationsResponseBody")), "401": UNAUTHENTICATED},
            },
            "post": {
                "tags": ["organizations"],
                "summary": "Create an organization",
                "description": "Installation administrators only. `admin` names its first admin: an existing account by "
                "email, or a new one (then `password` is required and must be changed at first sign-in).",
                "operationId": "createOrganization",
                "requestBody": json_body(ref("CreateOrganizationRequestBody")),
                "responses": {
                    "201": json_response("Created", ref("OrganizationResponseBody")),
                    "400": text_response("Invalid email or password"),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "409": text_response("The name is taken"),
                    "422": VALIDATION_ERROR,
                },
            },
        },
        "/v1/organizations/{organization_id}": {
            "get": {
                "tags": ["organizations"],
                "summary": "Get an organization",
                "operationId": "getOrganization",
                "parameters": [org_id],
                "responses": {
                    "200": json_response("The organization", ref("OrganizationResponseBody")),
                    "401": UNAUTHENTICATED,
                    "404": text_response("Not found (or another organization's)"),
                },
            },
            "patch": {
                "tags": ["organizations"],
                "summary": "Rename an organization",
                "operationId": "renameOrganization",
                "parameters": [org_id],
                "requestBody": json_body(ref("RenameOrganizationRequestBody")),
                "responses": {
                    "200": json_response("Renamed", ref("OrganizationResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                    "409": text_response("The name is taken"),
                },
            },
            "delete": {
                "tags": ["organizations"],
                "summary": "Delete an organization",
                "description": "Installation administrators only. Deletes all its data; its keys and sessions stop working. "
                "The default organization cannot be deleted.",
                "operationId": "deleteOrganization",
                "parameters": [org_id],
                "responses": {"204": {"description": "Deleted"}, "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": text_response("Not found")},
            },
        },
        "/v1/organizations/{organization_id}/members": {
            "get": {
                "tags": ["organizations"],
                "summary": "List an organization's members",
                "description": "Its admins (signed in to it) and installation administrators.",
                "operationId": "listOrganizationMembers",
                "parameters": [org_id] + members_page,
                "responses": {
                    "200": json_response("One page of members", ref("GetUsersResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                },
            },
            "post": {
                "tags": ["organizations"],
                "summary": "Add a member",
                "description": "Adds an existing account (by email) with a role, or changes its role.",
                "operationId": "addOrganizationMember",
                "parameters": [org_id],
                "requestBody": json_body(ref("AddOrganizationMemberRequestBody")),
                "responses": {
                    "201": json_response("The member", ref("GetViewerResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("No such organization or account"),
                    "422": VALIDATION_ERROR,
                },
            },
        },
        "/v1/organizations/{organization_id}/quotas": {
            "get": {
                "tags": ["organizations"],
                "summary": "An organization's ingestion quotas",
                "description": "Its own limits (null: the installation's CINDER_INGEST_* default). Its admins and installation "
                "administrators.",
                "operationId": "getOrganizationQuotas",
                "parameters": [org_id],
                "responses": {
                    "200": json_response("The quotas", ref("IngestionQuotaResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                },
            },
            "put": {
                "tags": ["organizations"],
                "summary": "Set an organization's ingestion quotas",
                "description": "Installation administrators. Receivers apply new limits within 30 seconds; over the rate, "
                "OTLP requests get 429 with Retry-After (gRPC RESOURCE_EXHAUSTED with RetryInfo).",
                "operationId": "setOrganizationQuotas",
                "parameters": [org_id],
                "requestBody": json_body(ref("IngestionQuota")),
                "responses": {
                    "200": json_response("The quotas", ref("IngestionQuotaResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                    "422": VALIDATION_ERROR,
                },
            },
        },
        "/v1/organizations/{organization_id}/members/{user_id}": {
            "patch": {
                "tags": ["organizations"],
                "summary": "Change a member's role",
                "operationId": "changeOrganizationMemberRole",
                "parameters": [org_id, user_id],
                "requestBody": role_body,
                "responses": {
                    "200": json_response("The member", ref("GetViewerResponseBody")),
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                    "409": text_response("The last admin cannot be demoted"),
                },
            },
            "delete": {
                "tags": ["organizations"],
                "summary": "Remove a member",
                "description": "Ends the membership and revokes the person's keys and sessions in the organization.",
                "operationId": "removeOrganizationMember",
                "parameters": [org_id, user_id],
                "responses": {
                    "204": {"description": "Removed"},
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Not found"),
                    "409": text_response("The last admin cannot be removed"),
                },
            },
        },
    }


def experiment_job_operations() -> dict[str, dict[str, dict]]:
    """ExperimentJobsAPI.swift: experiments the server runs."""
    experiment_id = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "string"},
                     "description": "The experiment's GlobalID."}
    job = json_response("The job", ref("ExperimentJobResponseBody"))

    def action(verb: str, summary: str, description: str) -> dict:
        return {
            "post": {
                "tags": ["experiments"], "summary": summary, "description": description,
                "operationId": f"{verb}ExperimentJob", "parameters": [experiment_id],
                "responses": {"200": job, "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": text_response("Not found")},
            }
        }

    return {
        "/v1/experiment_jobs": {
            "post": {
                "tags": ["experiments"],
                "summary": "Run an experiment on the server",
                "description": "Creates an experiment over a dataset (a version, some splits) and a job that runs a prompt "
                "(a stored prompt version, or one given inline in the prompt version shape) on every (example, repetition), "
                "at most `max_concurrency` calls at once. Runner replicas claim the job, survive one another's crashes, "
                "and record each run exactly once; the runs are ordinary experiment runs. The provider's key comes from "
                "the organization's secrets (PUT /v1/secrets), else the environment where the operator allows it.",
                "operationId": "startExperimentJob",
                "requestBody": json_body(ref("StartExperimentJobRequestBody")),
                "responses": {"200": job, "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": text_response("Dataset, version, split or prompt version not found"), "422": VALIDATION_ERROR},
            }
        },
        "/v1/experiment_jobs/{experiment_id}": {
            "get": {
                "tags": ["experiments"],
                "summary": "A server-side experiment's job",
                "description": "Status (RUNNING, COMPLETED, STOPPED, ERROR), progress and the latest errors.",
                "operationId": "getExperimentJob",
                "parameters": [experiment_id],
                "responses": {"200": job, "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": text_response("Not found, or not run by the server")},
            }
        },
        "/v1/experiment_jobs/{experiment_id}/stop": action(
            "stop", "Stop a server-side experiment", "Runners let go of it within a third of their lease; runs recorded stay."),
        "/v1/experiment_jobs/{experiment_id}/resume": action(
            "resume", "Resume a server-side experiment", "Runs the (example, repetition) pairs that have no run yet."),
        "/v1/spans/{span_id}/replay": {
            "post": {
                "tags": ["spans"],
                "summary": "Replay an LLM span's call, with edits",
                "description": "Calls the model again with the span's recorded model (llm.provider, llm.model_name), input "
                "messages and invocation parameters. The body may replace `model` ({provider}:{model} or "
                "custom:{id}:{model}), `messages`, and any parameter (merged over the span's); `stream: true` answers "
                "Server-Sent Events ending in `data: [DONE]`. Answers and errors as POST /v1/chat/completions; the new "
                "call is traced into the playground project.",
                "operationId": "replaySpan",
                "parameters": [{"name": "span_id", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "The span's OpenTelemetry span id (hex)."}],
                "requestBody": json_body({"type": "object", "additionalProperties": True}),
                "responses": {
                    "200": {"description": "The completion, as POST /v1/chat/completions answers it",
                            "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": {"type": "string"}}}},
                    "400": {"description": "Refused (OpenAI's error body)", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": UNAUTHENTICATED,
                    "403": FORBIDDEN,
                    "404": text_response("Span not found"),
                    "422": {"description": "Not an LLM span, or an invalid edit (OpenAI's error body)",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                },
            }
        },
    }


def cinder_operations(include_version: bool) -> dict[str, dict[str, dict]]:
    ops: dict[str, dict[str, dict]] = organization_operations() | experiment_job_operations() | {
        "/healthz": {
            "get": {
                "tags": ["operations"],
                "summary": "Liveness probe",
                "description": "Answers 200 `ok` while the process serves HTTP.",
                "operationId": "getHealthz",
                "responses": {"200": text_response("The process is up", "ok")},
            }
        },
        "/readyz": {
            "get": {
                "tags": ["operations"],
                "summary": "Readiness probe",
                "description": "Answers 200 `ready` when the server's dependencies (its database) answer within "
                "3 seconds, otherwise 503 with the problem as text.",
                "operationId": "getReadyz",
                "responses": {
                    "200": text_response("Ready", "ready"),
                    "503": text_response("Not ready; the body says why"),
                },
            }
        },
        "/metrics": {
            "get": {
                "tags": ["operations"],
                "summary": "Prometheus metrics",
                "description": "Prometheus text exposition format (`text/plain; version=0.0.4`).",
                "operationId": "getMetrics",
                "responses": {"200": text_response("Metrics in Prometheus text exposition format")},
            }
        },
        "/openapi.json": {
            "get": {
                "tags": ["operations"],
                "summary": "This OpenAPI document",
                "operationId": "getOpenAPIDocument",
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document describing Cinder's HTTP API",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/v1/traces": {
            "post": {
                "tags": ["traces"],
                "summary": "Export spans (OTLP/HTTP)",
                "description": "The OpenTelemetry OTLP/HTTP trace receiver: an ExportTraceServiceRequest as protobuf "
                "or JSON, optionally gzip- or deflate-compressed. Spans go to the project named by the "
                "`x-project-name` header, else by the resource attribute `openinference.project.name`, else "
                "`default`. Served by `cinder serve` and `cinder-collector`, not by `cinder-api`.",
                "operationId": "exportTraces",
                "parameters": [
                    {
                        "name": "Content-Encoding",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "enum": ["gzip", "deflate", "identity"]},
                        "description": "Compression of the request body.",
                    },
                    {
                        "name": "x-project-name",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Project for every span in the request, over the resource attributes.",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/OTLPExportTraceServiceRequest"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "Accepted (possibly partially: see partialSuccess). The body has the "
                        "request's encoding.",
                        "content": {
                            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OTLPExportTraceServiceResponse"}
                            },
                        },
                    },
                    "400": text_response("The body cannot be decoded (bad protobuf, JSON or compression)"),
                    "413": text_response("The body, compressed or decompressed, exceeds the configured limit"),
                    "415": text_response("Content-Type is neither application/x-protobuf nor application/json"),
                    "503": {
                        "description": "At capacity or shutting down; retry after the given delay",
                        "headers": {
                            "Retry-After": {
                                "description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"},
                            }
                        },
                        "content": TEXT,
                    },
                },
            }
        },
        "/v1/spans": {
            "post": {
                "tags": ["spans"],
                "summary": "Query spans as data frames",
                "description": "The span query behind the Python client's `get_spans_dataframe` and RAG helpers. "
                "Answers `multipart/mixed` with one `application/json` part per query, each a pandas "
                "\"table\"-orientation JSON document.",
                "operationId": "querySpans",
                "parameters": [
                    {
                        "name": "project_name",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "default": "default"},
                        "description": "The project to query.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpanQueryRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "One part per query",
                        "content": {"multipart/mixed": {"schema": {"type": "string"}}},
                    },
                    "404": text_response("The project does not exist"),
                    "422": VALIDATION_ERROR,
                },
            }
        },
        "/graphql": {
            "get": {
                "tags": ["graphql"],
                "summary": "GraphQL over GET, or the GraphQL explorer",
                "description": "Without `query`, answers the web UI's GraphQL explorer page (served by Cinder, nothing fetched elsewhere). "
                "With `query` (and optionally `variables`, `operationName`), executes it and answers JSON.",
                "operationId": "getGraphQL",
                "parameters": [
                    {"name": "query", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "variables",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Variables as a JSON object.",
                    },
                    {"name": "operationName", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The query's result, or the explorer page",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/GraphQLResponse"}},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    "400": {
                        "description": "Not a GraphQL request (no query, or variables that are not a JSON object)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GraphQLResponse"}}},
                    },
                },
            },
            "post": {
                "tags": ["graphql"],
                "summary": "GraphQL",
                "description": "Executes a GraphQL request (Phoenix's GraphQL schema, the subset Cinder implements).",
                "operationId": "postGraphQL",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GraphQLRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The result; execution errors are in `errors`",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GraphQLResponse"}}},
                    },
                    "400": {
                        "description": "Not a GraphQL request (a body that is not JSON, or no query)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GraphQLResponse"}}},
                    },
                },
            },
        },
    }
    if include_version:
        version = phoenix_version()
        ops["/arize_phoenix_version"] = {
            "get": {
                "tags": ["operations"],
                "summary": "The Phoenix release whose API this server implements",
                "description": "Plain text; Phoenix's clients read it to decide which features the server has.",
                "operationId": "getArizePhoenixVersion",
                "responses": {"200": text_response("The Phoenix version", version)},
            }
        }
    return ops


CINDER_TAGS = [
    {"name": "auth", "description": "Browser sign-in sessions (cookies), as Phoenix's, and switching organizations."},
    {"name": "organizations", "description": "The organizations (tenants) of an installation and their members (Cinder's own)."},
    {"name": "operations", "description": "Health, readiness, metrics and this document (Cinder's own routes)."},
    {"name": "graphql", "description": "Phoenix-compatible GraphQL endpoint."},
]

INFO = {
    "title": "Cinder",
    "version": "1.0",
    "description": "Cinder is a Phoenix-compatible observability server. Its REST API (/v1) implements a "
    "subset of Arize Phoenix's REST API with Phoenix's request and response shapes, so Phoenix's clients "
    "(arize-phoenix-client, arize-phoenix-otel) work against it unchanged; the operations below are "
    "those Cinder serves, as Phoenix's OpenAPI document describes them, plus Cinder's own routes "
    "(OTLP/HTTP ingestion, GraphQL, health, readiness and metrics).",
}

# --------------------------------------------------------------------------------------------------


def refs_in(value) -> set[str]:
    """Every `$ref` string anywhere inside value."""
    out: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                out.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def resolve_components(roots, components: dict) -> dict:
    """The components transitively referenced from roots, as {kind: {name: value}}."""
    kept: dict[str, dict] = {}
    pending = sorted(refs_in(roots))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref.split("/")
        if len(parts) != 4 or parts[0] != "#" or parts[1] != "components":
            raise SystemExit(f"unsupported $ref {ref!r}")
        kind, name = parts[2], parts[3].replace("~1", "/").replace("~0", "~")
        try:
            value = components[kind][name]
        except KeyError:
            raise SystemExit(f"dangling $ref {ref!r}")
        kept.setdefault(kind, {})[name] = value
        pending.extend(sorted(refs_in(value) - seen))
    return kept


def build(phoenix: dict) -> dict:
    paths = phoenix.get("paths", {})
    out_paths: dict[str, dict] = {}
    seen_ops: set[tuple[str, str]] = set()
    for path, method in PHOENIX_OPERATIONS:
        if (path, method) in seen_ops:
            raise SystemExit(f"duplicate operation in PHOENIX_OPERATIONS: {method.upper()} {path}")
        seen_ops.add((path, method))
        item = paths.get(path)
        if item is None or method not in item:
            raise SystemExit(f"Phoenix's document has no {method.upper()} {path}")
        target = out_paths.setdefault(path, {})
        # Path-level fields (parameters shared by the item's operations, summary...) come along.
        for key, value in item.items():
            if key not in HTTP_METHODS:
                target[key] = copy.deepcopy(value)
        target[method] = copy.deepcopy(item[method])

    include_version = "/arize_phoenix_version" not in paths
    for path, methods in cinder_operations(include_version).items():
        for method, operation in methods.items():
            if method in out_paths.get(path, {}):
                raise SystemExit(f"{method.upper()} {path} is both Phoenix's and Cinder's")
            out_paths.setdefault(path, {})[method] = operation

    operation_ids = [op.get("operationId") for item in out_paths.values() for m, op in item.items() if m in HTTP_METHODS]
    duplicates = sorted({i for i in operation_ids if i is not None and operation_ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"duplicate operationIds: {duplicates}")

    phoenix_components = phoenix.get("components", {})
    collisions = sorted(set(CINDER_SCHEMAS) & set(phoenix_components.get("schemas", {})))
    if collisions:
        raise SystemExit(f"Cinder schema names collide with Phoenix's: {collisions}")
    all_components = copy.deepcopy(phoenix_components)
    all_components.setdefault("schemas", {}).update(copy.deepcopy(CINDER_SCHEMAS))
    components = resolve_components(out_paths, all_components)

    used_tags = {t for item in out_paths.values() for m, op in item.items() if m in HTTP_METHODS for t in op.get("tags", [])}
    tags = [t for t in phoenix.get("tags", []) + CINDER_TAGS if t["name"] in used_tags]

    document = {
        "openapi": phoenix.get("openapi", "3.1.0"),
        "info": INFO,
        "paths": out_paths,
        "components": components,
    }
    if tags:
        document["tags"] = tags
    return document


def swift_source(document_json: str) -> str:
    # A raw string ends at `"""` followed by its `#`s, and `\` followed by them starts an escape: use
    # more `#`s than the longest run anywhere in the text, so neither can occur inside it.
    longest = max((len(run) for run in re.findall(r"#+", document_json)), default=0)
    hashes = "#" * (longest + 1)
    assert f'"{hashes}' not in document_json and f"\\{hashes}" not in document_json
    assert "\n" not in document_json and "\r" not in document_json
    return (
        "// Generated by scripts/generate-openapi.py from Phoenix's OpenAPI document; do not edit.\n"
        "// Regenerate with: python3 scripts/generate-openapi.py [path/to/phoenix/openapi.json]\n"
        "// swift-format-ignore-file\n"
        "// swiftlint:disable all\n"
        "\n"
        "/// The OpenAPI document served at `GET /openapi.json`: the Phoenix REST operations Cinder implements,\n"
        "/// as Phoenix's own document describes them, plus Cinder's own routes.\n"
        "enum OpenAPIDocument {\n"
        f'    static let json = {hashes}"""\n'
        f"{document_json}\n"
        f'"""{hashes}\n'
        "}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    source = Path(argv[1]) if len(argv) == 2 else DEFAULT_INPUT
    if not source.is_file():
        print(f"Phoenix's OpenAPI document not found at {source}; pass its path as the argument", file=sys.stderr)
        return 1
    phoenix = json.loads(source.read_text())
    document = build(phoenix)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(swift_source(text))
    count = sum(1 for item in document["paths"].values() for m in item if m in HTTP_METHODS)
    schemas = len(document["components"].get("schemas", {}))
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {count} operations, {schemas} schemas, {len(text)} bytes of JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
