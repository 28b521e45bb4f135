"""The client's RAG helpers (explode / concat span queries behind `get_spans_dataframe`)."""

import json

from phoenix.client.helpers.spans import get_input_output_context, get_retrieved_documents

from conftest import make_tracer_provider, unique_name


def _rag_trace(cinder, project):
    tp = make_tracer_provider(cinder, project)
    with tp.tracer.start_as_current_span(
        "rag", attributes={"openinference.span.kind": "CHAIN", "input.value": "what is cinder?", "output.value": "a server"}
    ):
        with tp.tracer.start_as_current_span(
            "retrieve",
            attributes={
                "openinference.span.kind": "RETRIEVER",
                "input.value": "what is cinder?",
                "retrieval.documents.0.document.content": "Cinder stores traces.",
                "retrieval.documents.0.document.score": 0.9,
                "retrieval.documents.0.document.metadata": json.dumps({"source": "a.md"}),
                "retrieval.documents.1.document.content": "It speaks OTLP.",
                "retrieval.documents.1.document.score": 0.4,
            },
        ):
            pass
    return tp.finish()


def test_get_retrieved_documents(cinder, client):
    project = unique_name("rag-docs")
    spans = _rag_trace(cinder, project)
    retriever = next(s for s in spans if s.name == "retrieve")
    df = get_retrieved_documents(client, project_identifier=project)
    assert list(df.index.names) == ["context.span_id", "document_position"]
    assert len(df) == 2
    span_id = format(retriever.context.span_id, "016x")
    first = df.loc[(span_id, 0)]
    assert first["input"] == "what is cinder?"
    assert first["document"] == "Cinder stores traces."
    assert first["document_score"] == 0.9
    assert first["document_metadata"] == {"source": "a.md"}
    assert first["context.trace_id"] == format(retriever.context.trace_id, "032x")
    assert df.loc[(span_id, 1)]["document"] == "It speaks OTLP."


def test_get_input_output_context(cinder, client):
    project = unique_name("rag-io")
    spans = _rag_trace(cinder, project)
    root = next(s for s in spans if s.name == "rag")
    df = get_input_output_context(client, project_identifier=project)
    assert len(df) == 1
    row = df.loc[format(root.context.span_id, "016x")]
    assert row["context.trace_id"] == format(root.context.trace_id, "032x")
    assert row["input"] == "what is cinder?"
    assert row["output"] == "a server"
    assert row["context"] == "Cinder stores traces.\n\nIt speaks OTLP."
