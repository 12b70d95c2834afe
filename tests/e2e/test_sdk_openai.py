"""Conformance: the ``openai`` client on the sandbox's OpenAI-shaped routes (chat completions,
structured parsing, streams, embeddings). The client validates answers with its own models, so a
shape it would reject fails here, naming the operation and its error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from pydantic import BaseModel

from alumio_mistral.sandbox import Sandbox

openai = pytest.importorskip("openai", reason="the openai client is in the test extra")

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("offline_sdk_env")]
Conform = Callable[[str, Callable[[], Any]], Any]
MODEL = "mistral-small-latest"
USER: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
                   "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}}}}}


class Weather(BaseModel):
    city: str
    temperature: float
    conditions: list[str]


@pytest.fixture
def client(mistral_sandbox: Sandbox) -> Iterator[Any]:
    with openai.OpenAI(api_key="sandbox-key", base_url=f"{mistral_sandbox.base_uri}/v1", max_retries=0,
                       timeout=10) as sdk:
        yield sdk


def test_chat_with_required_tool_choice_then_the_tool_result(client: Any, conform: Conform) -> None:
    forced = conform("chat.completions.create (tool_choice=required)", lambda: client.chat.completions.create(
        model=MODEL, messages=USER, tools=[WEATHER], tool_choice="required"))
    choice = forced.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["unit"] in ("C", "F")
    follow_up = [*USER, choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    answered = conform("chat.completions.create (tool result)", lambda: client.chat.completions.create(
        model=MODEL, messages=follow_up, tools=[WEATHER]))
    assert answered.choices[0].finish_reason == "stop" and answered.choices[0].message.content


def test_parse_gives_the_pydantic_model(client: Any, conform: Conform) -> None:
    parsed = conform("chat.completions.parse", lambda: client.chat.completions.parse(
        model=MODEL, messages=USER, response_format=Weather))
    assert isinstance(parsed.choices[0].message.parsed, Weather)
    tool = openai.pydantic_function_tool(Weather, name="report_weather")
    called = conform("chat.completions.parse (strict tool)", lambda: client.chat.completions.parse(
        model=MODEL, messages=USER, tools=[tool], tool_choice="required"))
    assert isinstance(called.choices[0].message.tool_calls[0].function.parsed_arguments, Weather)


def test_streams_rebuild_text_and_tool_calls(client: Any, conform: Conform) -> None:
    def collect(**extra: Any) -> Any:
        with client.chat.completions.stream(model=MODEL, messages=USER, **extra) as stream:
            for _ in stream:
                pass
            return stream.get_final_completion()

    text = conform("chat.completions.stream", collect)
    assert text.choices[0].message.content.startswith("Sandbox answer")
    called = conform("chat.completions.stream (tool_choice=required)",
                     lambda: collect(tools=[WEATHER], tool_choice="required"))
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"
    raw = conform("chat.completions.create (stream=True)", lambda: list(client.chat.completions.create(
        model=MODEL, messages=USER, stream=True)))
    assert raw[-1].choices[0].finish_reason == "stop" and raw[-1].usage.completion_tokens > 0


def test_embeddings(client: Any, conform: Conform) -> None:
    vectors = conform("embeddings.create", lambda: client.embeddings.create(model="mistral-embed",
                                                                           input=["one", "two"]))
    assert [d.index for d in vectors.data] == [0, 1] and len(vectors.data[0].embedding) == 1024
