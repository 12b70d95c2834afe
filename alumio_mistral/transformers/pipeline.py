"""Compiling steps into a :class:`Pipeline`, running it, and tracing it for ``--explain``.

A record is copied once on entry; steps then change it in place, which keeps the per-step cost
to the work the step itself does. The steps of a pipeline are then joined into one closure
(see :func:`_join`) that takes one record through them without building lists, so running a
record costs little more than the steps' own calls. No code is generated or evaluated.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from marshmallow import ValidationError

from alumio_mistral.errors import AlumioError
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.errors import StepFailure, TransformConfigError, TransformError, flatten_messages
from alumio_mistral.transformers.patterns import clone
from alumio_mistral.transformers.registry import StepsField, Transformer, transformer_types


#: keys any step may carry besides its parameters
_COMMON = ("type", "description", "disabled")
#: why a step met Python's recursion limit: every source caps nesting far below it, but a
#: record given directly (transform --input) or built by the steps themselves may go deeper
TOO_DEEP = "the record is nested too deeply to transform"
#: the method the pipeline calls for each mode of step (see :class:`Transformer`)
_CALLED = {"one": "apply", "many": "apply_many", "all": "apply_all", "drop": "drops"}


@dataclass
class StepTrace:
    """One step of an explained run: what went in, what came out, or why it failed."""

    index: int
    type: str
    pattern: str | None
    input: list[Any]
    output: list[Any] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.index + 1,
            "type": self.type,
            "pattern": self.pattern,
            "input": self.input,
            "output": self.output,
            "error": self.error,
        }


class Pipeline:
    """Compiled steps; ``run`` turns one record into zero (skipped), one or several records."""

    def __init__(self, name: str, steps: list[Transformer]) -> None:
        self.name = name
        self.steps = steps
        #: (mode, bound method) per step, looked up once rather than per record
        self._plan: list[tuple[str, Callable[[Any], Any]]] = [
            (step.mode, getattr(step, _CALLED[step.mode])) for step in steps
        ]
        #: transform a copy of a record; the caller's object is never changed
        self.run: Callable[[Any], list[Any]] = _join(self, copy=True)
        #: transform a record in place (for nested pipelines, which already own their input)
        self.run_owned: Callable[[Any], list[Any]] = _join(self)
        #: the record after the steps, when every step gives one record for one (else None):
        #: what a step running this pipeline inside it may call instead of ``run_owned``
        self.transform: Callable[[Any], Any] | None = (
            _join(self, as_list=False) if all(mode == "one" for mode, _ in self._plan) else None
        )

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {len(self.steps)} steps)"

    def __len__(self) -> int:
        return len(self.steps)

    def run_all(self, current: list[Any]) -> list[Any]:
        """Run the steps over several owned records at once (merge steps see all of them)."""
        return self._run_from(0, current)

    def _run_from(self, start: int, current: list[Any], stop: int | None = None) -> list[Any]:
        """Run steps ``start`` up to ``stop`` (default: the end) over ``current``."""
        index = start
        try:
            for index in range(start, len(self._plan) if stop is None else stop):
                mode, function = self._plan[index]
                if not current:
                    break
                if mode == "one":
                    current = [function(record) for record in current]
                elif mode == "drop":
                    current = [record for record in current if not function(record)]
                elif mode == "many":
                    current = [result for record in current for result in function(record)]
                else:
                    current = function(current)
        except Exception as error:
            raise self._error(index, error) from error
        return current

    def _error(self, index: int, error: Exception) -> TransformError:
        if isinstance(error, TransformError):
            return error  # from a nested pipeline, which already named itself
        if not self.steps:  # only copying the record can fail then
            return TransformError(TOO_DEEP, pipeline=self.name, index=0, step_type="copy")
        step = self.steps[index]
        if isinstance(error, RecursionError):  # not a bug: data deeper than Python recurses
            return TransformError(
                TOO_DEEP, pipeline=self.name, index=index, step_type=step.type_name, pattern=step.pattern
            )
        if isinstance(error, StepFailure):
            return TransformError(
                str(error),
                pipeline=self.name,
                index=index,
                step_type=step.type_name,
                pattern=error.pattern or step.pattern,
            )
        return TransformError(
            str(error) if isinstance(error, AlumioError) else f"{type(error).__name__}: {error}",
            pipeline=self.name,
            index=index,
            step_type=step.type_name,
            pattern=step.pattern,
            unexpected=not isinstance(error, AlumioError),
        )

    def explain(self, record: Any) -> list[StepTrace]:
        """Run step by step, recording each step's input and output; stops at the first failure."""
        traces: list[StepTrace] = []
        try:
            current = [clone(record)]
        except RecursionError as error:
            raise self._error(0, error) from None
        for index, step in enumerate(self.steps):
            trace = StepTrace(index, step.type_name, step.pattern, clone(current))
            traces.append(trace)
            try:
                current = self._run_from(index, current, index + 1)
            except TransformError as error:
                trace.error = str(error)
                break
            trace.output = clone(current)
            if not current:
                break
        return traces


def _join(pipeline: Pipeline, *, copy: bool = False, as_list: bool = True) -> Callable[[Any], Any]:
    """The pipeline's steps as one function: ``run_owned``; ``run`` when it is to ``copy`` the
    record first; ``transform`` (for one-to-one steps only) when not ``as_list``.

    One record goes through one-to-one steps and filters without building a list; the first
    step giving several records (or working on a list) hands over to ``_run_from``. Any
    failure becomes one typed error naming the step.
    """
    plan = pipeline._plan
    # the steps one record goes through alone, then where the list-based rest begins
    single = next((index for index, (mode, _) in enumerate(plan) if mode == "all"), len(plan))
    steps = [(mode == "drop", mode == "many", function) for mode, function in plan[:single]]
    run_from, failure = pipeline._run_from, pipeline._error

    def run(record: Any) -> Any:
        step = 0
        try:
            if copy:
                record = clone(record)
            for drops, many, function in steps:
                if drops:
                    if function(record):
                        return []
                elif many:
                    records = function(record)
                    if len(records) != 1:
                        return run_from(step + 1, records) if records else records
                    record = records[0]
                else:
                    record = function(record)
                step += 1
            if single < len(plan):
                return run_from(single, [record])
        except RecursionError as error:  # not a bug: data deeper than Python recurses
            raise failure(step, error) from None
        except Exception as error:
            raise failure(step, error) from error
        return [record] if as_list else record

    return run


class Definitions(Protocol):
    """Where ``use`` steps find named pipelines: a
    :class:`~alumio_mistral.transformers.library.Library` (a protocol, so that the compiler
    need not import the library, which compiles with it)."""

    def compile(self, name: str, arguments: dict[str, Any], context: TransformContext,
                stack: tuple[str, ...], *, where: tuple[str, str]) -> Pipeline: ...


class _Compiler:
    """Compiles steps for one source file; follows ``use`` references, refusing cycles."""

    def __init__(
        self, source: str, library: Definitions | None, context: TransformContext, stack: tuple[str, ...] = ()
    ) -> None:
        self.source = source
        self.library = library
        self.context = context
        self.stack = stack

    def compile(self, steps: Any, where: str) -> Pipeline:
        if not isinstance(steps, list):
            raise TransformConfigError.one(self.source, where or "steps", "expects a list of steps")
        problems: list[tuple[str, str, str]] = []
        compiled: list[Transformer] = []
        for index, step in enumerate(steps):
            try:
                transformer = self.step(step, f"{where}[{index}]")
            except TransformConfigError as error:
                problems.extend(error.problems)
                continue
            if transformer is not None:
                compiled.append(transformer)
        if problems:
            raise TransformConfigError(problems)
        return Pipeline(f"{self.source}: {where}" if where else self.source, compiled)

    def step(self, step: Any, where: str) -> Transformer | None:
        if not isinstance(step, dict):
            raise TransformConfigError.one(self.source, where, "a step must be a mapping with 'type' or 'use'")
        if step.get("disabled") is True:
            return None
        if "use" in step:
            if "type" in step:
                raise TransformConfigError.one(self.source, where, "give either 'type' or 'use', not both")
            step = {"type": "use", "name": step["use"], **{k: v for k, v in step.items() if k != "use"}}
        types = transformer_types()
        kind = step.get("type")
        if not isinstance(kind, str) or kind not in types:
            close = difflib.get_close_matches(str(kind), types, n=3) if kind is not None else []
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(sorted(types))}"
            message = "missing 'type'" if kind is None else f"unknown transformer type {kind!r}"
            raise TransformConfigError.one(self.source, f"{where}.type", f"{message} ({hint})")
        cls = types[kind]
        try:
            params = cls.Params().load({k: v for k, v in step.items() if k not in _COMMON})
        except ValidationError as error:
            problems = [(self.source, path, message) for path, message in flatten_messages(error.messages, where)]
            raise TransformConfigError(problems + self._nested_problems(cls, step, where)) from None
        return cls(params, self, where)

    def _nested_problems(self, cls: type[Transformer], step: dict[str, Any], where: str) -> list[tuple[str, str, str]]:
        """Problems of a step's nested step lists, so a wrong ``if`` does not hide a wrong ``then``."""
        problems: list[tuple[str, str, str]] = []
        for name, declared in cls.Params().fields.items():
            key = declared.data_key or name
            if isinstance(declared, StepsField) and isinstance(step.get(key), list):
                try:
                    self.compile(step[key], f"{where}.{key}")
                except TransformConfigError as error:
                    problems.extend(error.problems)
        return problems

    def use(self, name: str, arguments: dict[str, Any], where: str) -> Pipeline:
        if self.library is None:
            raise TransformConfigError.one(self.source, where, f"no library to find {name!r} in")
        if name in self.stack:
            cycle = " -> ".join((*self.stack[self.stack.index(name) :], name))
            raise TransformConfigError.one(self.source, where, f"cycle of 'use' references: {cycle}")
        return self.library.compile(name, arguments, self.context, (*self.stack, name), where=(self.source, where))


def compile_pipeline(
    steps: list[dict[str, Any]],
    *,
    source: str = "<inline>",
    where: str = "",
    library: Definitions | None = None,
    context: TransformContext | None = None,
    stack: tuple[str, ...] = (),
) -> Pipeline:
    """Compile ``steps`` (patterns parsed here, once); errors name ``source`` and the dotted path."""
    return _Compiler(source, library, context or TransformContext(), stack).compile(steps, where)
