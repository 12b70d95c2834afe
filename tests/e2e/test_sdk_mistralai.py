"""Conformance: the official ``mistralai`` SDK against the sandbox, for every operation it exposes
that flows use. The SDK validates each answer with its own response models, so a shape the real
client would reject fails here, naming the operation and the SDK's validation error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from pydantic import BaseModel

from alumio_mistral.sandbox import Sandbox

mistralai = pytest.importorskip("mistralai.client", reason="the mistralai SDK is in the test extra")
from mistralai.client import Mistral, errors  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("offline_sdk_env")]
Conform = Callable[[str, Callable[[], Any]], Any]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "days"],
                   "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}}}}
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


class Book(BaseModel):
    name: str
    authors: list[str]
    year: int


@pytest.fixture
def client(mistral_sandbox: Sandbox) -> Iterator[Mistral]:
    with Mistral(api_key="sandbox-key", server_url=mistral_sandbox.base_uri, timeout_ms=10_000) as sdk:
        yield sdk


def _known(events: Any) -> list[Any]:
    """The events of a stream, each one a type the SDK recognises (not its ``Unknown`` fallback)."""
    seen = list(events)
    unknown = [e for e in seen if getattr(getattr(e, "data", None), "is_unknown", False)]
    assert not unknown, f"events the SDK does not recognise: {unknown}"
    return seen


def test_chat_plain_tools_forced_parse_and_stream(client: Mistral, conform: Conform) -> None:
    plain = conform("chat.complete", lambda: client.chat.complete(model="mistral-small-latest", messages=USER))
    assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.content

    forced = conform("chat.complete (tool_choice=any)", lambda: client.chat.complete(
        model="mistral-small-latest", messages=USER, tools=[WEATHER], tool_choice="any"))
    call = forced.choices[0].message.tool_calls[0]
    assert forced.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city", "days"} and arguments["days"] >= 1

    follow_up = [*USER, forced.choices[0].message,
                 {"role": "tool", "tool_call_id": call.id, "name": "get_weather", "content": "sunny"}]
    answered = conform("chat.complete (tool result)", lambda: client.chat.complete(
        model="mistral-small-latest", messages=follow_up, tools=[WEATHER], tool_choice="any"))
    assert answered.choices[0].finish_reason == "stop"

    parsed = conform("chat.parse", lambda: client.chat.parse(
        response_format=Book, model="mistral-small-latest", messages=USER))
    assert isinstance(parsed.choices[0].message.parsed, Book)

    cut = conform("chat.complete (max_tokens)", lambda: client.chat.complete(
        model="mistral-small-latest", messages=USER, max_tokens=2))
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 2

    chunks = conform("chat.stream", lambda: _known(client.chat.stream(model="mistral-small-latest", messages=USER)))
    text = "".join(c.data.choices[0].delta.content or "" for c in chunks)
    assert text == plain.choices[0].message.content
    calls = conform("chat.stream (tool_choice=required)", lambda: _known(client.chat.stream(
        model="mistral-small-latest", messages=USER, tools=[WEATHER], tool_choice="required")))
    assert calls[-1].data.choices[0].finish_reason == "tool_calls"


def test_fim_embeddings_moderations_classifiers(client: Mistral, conform: Conform) -> None:
    fim = conform("fim.complete", lambda: client.fim.complete(model="codestral-latest", prompt="def add(a, b):"))
    assert fim.choices[0].message.content
    conform("fim.stream", lambda: _known(client.fim.stream(model="codestral-latest", prompt="def add(a, b):")))
    vectors = conform("embeddings.create", lambda: client.embeddings.create(
        model="mistral-embed", inputs=["one", "two"]))
    assert len(vectors.data) == 2
    conform("classifiers.moderate", lambda: client.classifiers.moderate(
        model="mistral-moderation-latest", inputs=["I will attack"]))
    conform("classifiers.moderate_chat", lambda: client.classifiers.moderate_chat(
        model="mistral-moderation-latest", inputs=USER))
    conform("classifiers.classify", lambda: client.classifiers.classify(model="sandbox-classifier", inputs=["x"]))
    conform("classifiers.classify_chat", lambda: client.classifiers.classify_chat(
        model="sandbox-classifier", input=[{"messages": USER}]))


def test_files_ocr_and_transcriptions(client: Mistral, conform: Conform) -> None:
    upload = conform("files.upload", lambda: client.files.upload(
        file={"file_name": "scan.md", "content": "# Page one\fPage two".encode()}, purpose="ocr"))
    conform("files.list", lambda: client.files.list())
    conform("files.retrieve", lambda: client.files.retrieve(file_id=upload.id))
    assert conform("files.download", lambda: client.files.download(file_id=upload.id).read()).startswith(b"# Page")
    signed = conform("files.get_signed_url", lambda: client.files.get_signed_url(file_id=upload.id))

    by_file = conform("ocr.process (file)", lambda: client.ocr.process(
        model="mistral-ocr-latest", document={"type": "file", "file_id": upload.id}))
    by_url = conform("ocr.process (signed URL)", lambda: client.ocr.process(
        model="mistral-ocr-latest", document={"type": "document_url", "document_url": signed.url}))
    assert [p.markdown for p in by_url.pages] == [p.markdown for p in by_file.pages] == ["# Page one", "Page two"]

    audio = {"file_name": "hello.wav", "content": b"Hello there. How are you?"}
    heard = conform("audio.transcriptions.complete", lambda: client.audio.transcriptions.complete(
        model="voxtral-mini-latest", file=audio))
    assert heard.text == "Hello there. How are you?" and len(heard.segments) == 2
    events = conform("audio.transcriptions.stream", lambda: _known(client.audio.transcriptions.stream(
        model="voxtral-mini-latest", file=audio)))
    assert events[-1].event == "transcription.done" and events[-1].data.text == heard.text
    # no file part: the SDK sends stream=true as a plain form field, which must still stream
    by_url = conform("audio.transcriptions.stream (file_url)", lambda: _known(client.audio.transcriptions.stream(
        model="voxtral-mini-latest", file_url=signed.url)))
    assert by_url[-1].data.text == "# Page one\fPage two"
    by_id = conform("audio.transcriptions.complete (file_id)", lambda: client.audio.transcriptions.complete(
        model="voxtral-mini-latest", file_id=upload.id))
    assert by_id.text == by_url[-1].data.text
    conform("files.delete", lambda: client.files.delete(file_id=upload.id))


def test_batch_to_a_terminal_status(client: Mistral, conform: Conform) -> None:
    line = {"custom_id": "1", "body": {"messages": USER, "max_tokens": 5}}
    upload = conform("files.upload (batch)", lambda: client.files.upload(
        file={"file_name": "in.jsonl", "content": (json.dumps(line) + "\n").encode()}, purpose="batch"))
    job = conform("batch.jobs.create", lambda: client.batch.jobs.create(
        input_files=[upload.id], model="mistral-small-latest", endpoint="/v1/chat/completions"))
    for _ in range(5):
        job = conform("batch.jobs.get", lambda: client.batch.jobs.get(job_id=job.id))
        if job.status in ("SUCCESS", "FAILED", "CANCELLED", "TIMEOUT_EXCEEDED"):
            break
    assert job.status == "SUCCESS" and job.output_file
    conform("batch.jobs.list", lambda: client.batch.jobs.list())
    other = conform("batch.jobs.create (inline)", lambda: client.batch.jobs.create(
        requests=[line], model="mistral-small-latest", endpoint="/v1/chat/completions"))
    assert conform("batch.jobs.cancel", lambda: client.batch.jobs.cancel(job_id=other.id)).status
    conform("batch.jobs.delete", lambda: client.batch.jobs.delete(job_id=other.id))


def test_agents(client: Mistral, conform: Conform) -> None:
    agent = conform("beta.agents.create", lambda: client.beta.agents.create(
        model="mistral-small-latest", name="helper", tools=[WEATHER]))
    # list operations get metadata=None: without it this SDK version sends its UNSET sentinel
    # ("~?~unset~?~sentinel~?~") as the ``metadata`` query value, which is not JSON
    conform("beta.agents.list", lambda: client.beta.agents.list(metadata=None))
    conform("beta.agents.list_pages", lambda: client.beta.agents.list_pages(metadata=None))
    conform("beta.agents.get", lambda: client.beta.agents.get(agent_id=agent.id))
    updated = conform("beta.agents.update", lambda: client.beta.agents.update(agent_id=agent.id,
                                                                              instructions="Be brief."))
    conform("beta.agents.list_versions", lambda: client.beta.agents.list_versions(agent_id=agent.id))
    conform("beta.agents.get_version", lambda: client.beta.agents.get_version(agent_id=agent.id, version="0"))
    conform("beta.agents.update_version", lambda: client.beta.agents.update_version(agent_id=agent.id,
                                                                                    version=updated.version))
    conform("beta.agents.create_version_alias", lambda: client.beta.agents.create_version_alias(
        agent_id=agent.id, alias="prod", version=0))
    conform("beta.agents.list_version_aliases", lambda: client.beta.agents.list_version_aliases(agent_id=agent.id))
    conform("beta.agents.delete_version_alias", lambda: client.beta.agents.delete_version_alias(
        agent_id=agent.id, alias="prod"))

    answer = conform("agents.complete", lambda: client.agents.complete(agent_id=agent.id, messages=USER))
    assert answer.choices[0].message.content
    called = conform("agents.complete (tool_choice=any)", lambda: client.agents.complete(
        agent_id=agent.id, messages=USER, tool_choice="any"))
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather", "the agent's own tools"
    named = [{"role": "user", "content": "Call get_weather for Oslo"}]
    assert conform("agents.complete (named function)", lambda: client.agents.complete(
        agent_id=agent.id, messages=named)).choices[0].finish_reason == "tool_calls"
    conform("agents.stream", lambda: _known(client.agents.stream(agent_id=agent.id, messages=USER)))
    conform("beta.agents.delete", lambda: client.beta.agents.delete(agent_id=agent.id))
    with pytest.raises(errors.SDKError) as gone:
        client.agents.complete(agent_id=agent.id, messages=USER)
    assert gone.value.status_code == 404


def test_conversations_all_eleven_operations_with_function_tools_and_formats(client: Mistral,
                                                                             conform: Conform) -> None:
    conversations = client.beta.conversations
    started = conform("conversations.start", lambda: conversations.start(
        model="mistral-small-latest", inputs="What is the weather in Paris?", tools=[WEATHER],
        completion_args={"tool_choice": "any"}))
    call = started.outputs[0]
    assert call.type == "function.call" and call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city", "days"}

    result = [{"type": "function.result", "tool_call_id": call.tool_call_id, "result": "sunny"}]
    answered = conform("conversations.append (function result)", lambda: conversations.append(
        conversation_id=started.conversation_id, inputs=result))
    assert answered.outputs[0].type == "message.output"

    schema = {"name": "book", "schema": Book.model_json_schema(), "strict": True}
    structured = conform("conversations.append (json_schema)", lambda: conversations.append(
        conversation_id=started.conversation_id, inputs="Name a book",
        completion_args={"response_format": {"type": "json_schema", "json_schema": schema}}))
    Book.model_validate_json(structured.outputs[0].content)

    events = conform("conversations.append_stream", lambda: _known(conversations.append_stream(
        conversation_id=started.conversation_id, inputs="And tomorrow?", completion_args={"tool_choice": "auto"})))
    names = [e.event for e in events]
    assert names[0] == "conversation.response.started" and names[-1] == "conversation.response.done"
    assert "message.output.delta" in names

    conform("conversations.list", lambda: conversations.list(metadata=None))
    conform("conversations.get", lambda: conversations.get(conversation_id=started.conversation_id))
    history = conform("conversations.get_history", lambda: conversations.get_history(
        conversation_id=started.conversation_id))
    conform("conversations.get_messages", lambda: conversations.get_messages(conversation_id=started.conversation_id))
    first = history.entries[0].id
    conform("conversations.restart", lambda: conversations.restart(
        conversation_id=started.conversation_id, inputs="Again", from_entry_id=first))
    streamed = conform("conversations.start_stream", lambda: _known(conversations.start_stream(
        model="mistral-small-latest", inputs="Weather in Rome?", tools=[WEATHER],
        completion_args={"tool_choice": "any"})))
    assert "function.call.delta" in [e.event for e in streamed]
    conform("conversations.restart_stream", lambda: _known(conversations.restart_stream(
        conversation_id=started.conversation_id, inputs="Once more", from_entry_id=first)))
    conform("conversations.delete", lambda: conversations.delete(conversation_id=started.conversation_id))


def test_libraries_and_documents(client: Mistral, conform: Conform) -> None:
    libraries = client.beta.libraries
    library = conform("libraries.create", lambda: libraries.create(name="handbook"))
    conform("libraries.list", lambda: libraries.list())
    conform("libraries.get", lambda: libraries.get(library_id=library.id))
    conform("libraries.update", lambda: libraries.update(library_id=library.id, name="handbook v2"))
    document = conform("libraries.documents.upload", lambda: libraries.documents.upload(
        library_id=library.id, file={"file_name": "rules.txt", "content": b"Rule one. Rule two."}))
    conform("libraries.documents.list", lambda: libraries.documents.list(library_id=library.id))
    conform("libraries.documents.get", lambda: libraries.documents.get(library_id=library.id,
                                                                      document_id=document.id))
    conform("libraries.documents.status", lambda: libraries.documents.status(library_id=library.id,
                                                                            document_id=document.id))
    text = conform("libraries.documents.text_content", lambda: libraries.documents.text_content(
        library_id=library.id, document_id=document.id))
    assert text.text == "Rule one. Rule two."
    conform("libraries.documents.get_signed_url", lambda: libraries.documents.get_signed_url(
        library_id=library.id, document_id=document.id))
    conform("libraries.documents.extracted_text_signed_url", lambda: libraries.documents.extracted_text_signed_url(
        library_id=library.id, document_id=document.id))
    conform("libraries.documents.reprocess", lambda: libraries.documents.reprocess(library_id=library.id,
                                                                                  document_id=document.id))
    conform("libraries.accesses.list", lambda: libraries.accesses.list(library_id=library.id))
    conform("libraries.documents.update", lambda: libraries.documents.update(
        library_id=library.id, document_id=document.id, name="rules-v2.txt"))
    conform("libraries.documents.delete", lambda: libraries.documents.delete(library_id=library.id,
                                                                            document_id=document.id))
    conform("libraries.delete", lambda: libraries.delete(library_id=library.id))


def test_workflows_execute_and_wait_finishes(client: Mistral, conform: Conform) -> None:
    workflows = client.workflows
    listed = conform("workflows.get_workflows", lambda: workflows.get_workflows())
    assert {"echo", "fail"} <= {w.name for w in listed.result.workflows}
    conform("workflows.get_workflow", lambda: workflows.get_workflow(workflow_identifier="echo"))
    conform("workflows.update_workflow", lambda: workflows.update_workflow(workflow_identifier="echo",
                                                                           description="Echoes"))
    result = conform("workflows.execute_workflow_and_wait", lambda: workflows.execute_workflow_and_wait(
        workflow_identifier="echo", input={"order": 42}, polling_interval=0, max_attempts=5))
    assert result == {"order": 42}
    synced = conform("workflows.execute_workflow (wait_for_result)", lambda: workflows.execute_workflow(
        workflow_identifier="echo", input={"n": 1}, wait_for_result=True))
    assert synced.result == {"n": 1}
    with pytest.raises(RuntimeError, match="FAILED"):
        workflows.execute_workflow_and_wait(workflow_identifier="fail", polling_interval=0, max_attempts=5)

    started = conform("workflows.execute_workflow", lambda: workflows.execute_workflow(
        workflow_identifier="echo", input={"n": 2}))
    executions = workflows.executions
    conform("workflows.executions.signal", lambda: executions.signal_workflow_execution(
        execution_id=started.execution_id, name="nudge"))
    conform("workflows.executions.query", lambda: executions.query_workflow_execution(
        execution_id=started.execution_id, name="status"))
    conform("workflows.executions.update", lambda: executions.update_workflow_execution(
        execution_id=started.execution_id, name="bump"))
    conform("workflows.executions.cancel", lambda: executions.cancel_workflow_execution(
        execution_id=started.execution_id))
    done = conform("workflows.executions.get", lambda: executions.get_workflow_execution(
        execution_id=started.execution_id))
    assert done.status == "CANCELED"
    conform("workflows.executions.get_history", lambda: executions.get_workflow_execution_history(
        execution_id=started.execution_id))
    runs = conform("workflows.runs.list_runs", lambda: workflows.runs.list_runs(workflow_identifier="echo"))
    run_id = runs.result.executions[0].run_id
    conform("workflows.runs.get_run", lambda: workflows.runs.get_run(run_id=run_id))
    conform("workflows.runs.get_run_history", lambda: workflows.runs.get_run_history(run_id=run_id))
    conform("workflows.archive_workflow", lambda: workflows.archive_workflow(workflow_identifier="echo"))
    conform("workflows.unarchive_workflow", lambda: workflows.unarchive_workflow(workflow_identifier="echo"))


@pytest.mark.parametrize("family", ["prompts", "skills"])
def test_prompts_and_skills_registries(client: Mistral, conform: Conform, family: str) -> None:
    registry = getattr(client.beta, family)
    definition: dict[str, Any] = ({"content": "Hello {{name}}"} if family == "prompts"
                                  else {"description": "Greets", "body": "Say hello"})
    changed = ({"content": "Hi {{name}}"} if family == "prompts" else {"description": "Greets", "body": "Say hi"})
    created = conform(f"{family}.create", lambda: registry.create(name="greeting", definition=definition,
                                                                  aliases=["prod"]))
    conform(f"{family}.list", lambda: registry.list())
    conform(f"{family}.get", lambda: registry.get(**{f"{family[:-1]}_id": created.id}))
    ids = {f"{family[:-1]}_id": created.id}
    conform(f"{family}.update_metadata", lambda: registry.update_metadata(**ids, sharing_scope="workspace"))
    version = conform(f"{family}.create_version", lambda: registry.create_version(**ids, definition=changed,
                                                                                   aliases=["prod"]))
    assert version.version == 2 and not version.deduplicated
    same = conform(f"{family}.create_version (same)", lambda: registry.create_version(**ids, definition=changed))
    assert same.deduplicated and same.version == 2
    versions = conform(f"{family}.list_versions", lambda: registry.list_versions(**ids))
    assert [v.version for v in versions.data] == [2, 1]
    first = conform(f"{family}.get_version", lambda: registry.get_version(**ids, version=1))
    assert first.aliases == [] and first.latest_version == 2
    conform(f"{family}.update_version_metadata", lambda: registry.update_version_metadata(
        **ids, version=1, notes="the first", aliases={"values": ["old"]}))
    conform(f"{family}.delete", lambda: registry.delete(**ids))
