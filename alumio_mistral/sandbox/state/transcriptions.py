"""Audio transcriptions: a multipart upload, an uploaded file or a URL in; text, segments or events out.

The sandbox cannot hear: audio that is UTF-8 text (what tests upload) is "transcribed" as that
text, anything else as a fixed sentence naming the audio's digest, so answers are deterministic.
``stream=true`` in the form streams the events the SDKs dispatch on: the language, one
``transcription.text.delta`` per word, one ``transcription.segment`` per sentence, then
``transcription.done``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterator

from alumio_mistral.sandbox import sse
from alumio_mistral.sandbox.compute import tokens
from alumio_mistral.sandbox.state import Context, Handler
from alumio_mistral.sandbox.state.files import Files
from alumio_mistral.sandbox.wire import Request, missing

#: seconds the sandbox pretends each word takes to say
SECONDS_PER_WORD = 0.4


class Transcriptions:
    def __init__(self, ctx: Context, files: Files) -> None:
        self.ctx = ctx
        self.files = files

    def handlers(self) -> dict[str, Handler]:
        return {"audio.transcriptions.complete": self.complete, "audio.transcriptions.complete_stream": self.complete}

    def _audio(self, request: Request) -> bytes:
        """The audio of the request: the ``file`` part, else ``file_id``, else ``file_url``."""
        fields, uploads = request.form()
        if "file" in uploads:
            return uploads["file"].content
        if fields.get("file_id"):
            return self.files.content(fields["file_id"])
        if fields.get("file_url"):
            url = fields["file_url"]
            return self.files.fetch(url) or url.encode()
        raise missing("body", "file")

    def complete(self, request: Request) -> Any:
        fields, _ = request.form()
        if not fields.get("model"):
            raise missing("body", "model")
        answer = transcription(self._audio(request), fields["model"], fields.get("language") or None)
        if fields.get("stream", "").lower() in ("true", "1"):
            return sse.stream(_events(answer))
        return answer


def transcription(audio: bytes, model: str, language: str | None) -> dict[str, Any]:
    """The transcription of ``audio``: its text when it is UTF-8 text, else a fixed sentence."""
    try:
        text = audio.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = f"Sandbox transcription of audio {hashlib.sha256(audio).hexdigest()[:8]}."
    segments, start = [], 0.0
    for sentence in re.findall(r"[^.!?]+[.!?]*", text):
        sentence = sentence.strip()
        if sentence:
            end = round(start + SECONDS_PER_WORD * tokens(sentence), 2)
            segments.append({"type": "transcription_segment", "text": sentence, "start": start, "end": end})
            start = end
    usage = {"prompt_audio_seconds": int(start) + 1, "prompt_tokens": 0, "completion_tokens": tokens(text),
             "total_tokens": tokens(text)}
    return {"model": model, "text": text, "language": language or "en", "segments": segments, "usage": usage}


def _events(answer: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The event stream of a transcription (each event's name repeated in its data's ``type``)."""
    yield "transcription.language", {"type": "transcription.language", "audio_language": answer["language"]}
    for index, word in enumerate(answer["text"].split(" ")):
        yield "transcription.text.delta", {"type": "transcription.text.delta", "text": word if index == 0 else " " + word}
    for segment in answer["segments"]:
        yield "transcription.segment", {**segment, "type": "transcription.segment"}
    yield "transcription.done", {**answer, "type": "transcription.done"}
