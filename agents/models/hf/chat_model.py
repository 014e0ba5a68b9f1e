"""`ChatLocalHF`: a LangChain chat model over a transformers model in this process.

It does what `ChatHuggingFace` over a local pipeline does not: async invoke and
token streaming, histories with tool messages or ending in an AI message, tool
calls through the chat template (or a documented prompt fallback), usage
metadata, stop strings and seeded sampling. All instances naming the same
model share one loaded copy (see `engine.py`).
"""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, model_validator

from agents.models.errors import ModelUnavailableError
from agents.models.hf.device import choose_device, choose_dtype
from agents.models.hf.embedded import ensure_embedded_model
from agents.models.hf.engine import Engine, Event, Request, Result, Sampling, get_engine
from agents.models.hf.messages import (
    parse_tool_calls,
    split_placeholders,
    template_supports_tools,
    to_template_messages,
    tool_system_prompt,
    with_placeholders,
)
from agents.models.hf.quantize import choose_quantize
from agents.models.options import ModelOptions

#: The model name that means "the bundled SmolLM2-135M-Instruct".
EMBEDDED_MODEL = "embedded"


class ChatLocalHF(BaseChatModel):
    """Chat model running a transformers causal LM locally.

    Example:
        >>> llm = ChatLocalHF(model="embedded", max_new_tokens=64)
        >>> llm.invoke("Name one AI risk.").content
    """

    model: str = EMBEDDED_MODEL
    """Hub id, local folder, or ``"embedded"`` for the bundled SmolLM2-135M-Instruct."""
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    stop: list[str] | None = None
    num_ctx: int | None = None
    device: str | None = None
    """``cuda``, ``mps``, ``cpu`` (or ``cuda:1``…); None picks the best available."""
    dtype: str | None = None
    """``bfloat16``, ``float16`` or ``float32``; None picks per device."""
    quantize: str | None = None
    """``int8`` (weight-only), ``none`` or ``auto`` (int8 on CPU); None reads ``$COUNCIL_HF_QUANTIZE``."""

    _engine: Engine | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _check_raw_options(cls, data: Any) -> Any:
        # Before pydantic's lax coercion, which would quietly turn max_new_tokens=True into 1.
        if isinstance(data, dict):
            ModelOptions.from_mapping({k: v for k, v in data.items() if k in ModelOptions.names()})
        return data

    @model_validator(mode="after")
    def _check_options(self) -> ChatLocalHF:
        self.options()  # raises ValueError naming a bad value
        device = choose_device(self.device)
        choose_dtype(device, self.dtype)
        choose_quantize(device, self.quantize)
        return self

    def options(self, **overrides: Any) -> ModelOptions:
        """The decoding options of this instance, with call-time overrides."""
        values = {name: getattr(self, name) for name in ModelOptions.names()}
        values["stop"] = tuple(self.stop or ())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return ModelOptions.from_mapping(values)

    @property
    def _llm_type(self) -> str:
        return "hf-local-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, **self.options().to_dict()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="huggingface",
            # A per-call `model=` is rejected at generation, but traces must name what was asked for.
            ls_model_name=str(kwargs.get("model") or self.model),
            ls_model_type="chat",
            ls_temperature=self.temperature,
            ls_max_tokens=self.max_new_tokens,
        )
        if stop or self.stop:
            params["ls_stop"] = list(stop or self.stop or [])
        return params

    # -- loading -------------------------------------------------------------

    def engine(self) -> Engine:
        """The shared loaded model, loading (and converting) it on first use."""
        if self._engine is None:
            device = choose_device(self.device)
            self._engine = get_engine(
                resolve_model_path(self.model),
                device,
                choose_dtype(device, self.dtype),
                choose_quantize(device, self.quantize),
            )
        return self._engine

    # -- tools ---------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the model calls them through its template or our fallback format.

        Args:
            tools: Tools as LangChain tools, functions, pydantic models or schemas.
            tool_choice: None/"auto" lets the model choose; "any", "required" or
                True asks for at least one call; a tool name asks for that tool.
            **kwargs: Further call-time arguments bound with the tools.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "any", "required"):
            names = [t["function"]["name"] for t in formatted]
            if tool_choice not in names:
                raise ValueError(f"tool_choice {tool_choice!r} is not one of the bound tools {names}")
            formatted = [t for t in formatted if t["function"]["name"] == tool_choice]
            tool_choice = "required"
        if tool_choice == "none":
            formatted = []
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def supports_tool_calling(self) -> bool:
        """True when the chat template renders tools itself (Qwen2.5, Llama 3.1, Hermes…).

        The prompt fallback works on any model, but a model whose template was
        not trained on tools rarely writes a well-formed call; callers use this
        to choose between an agentic and a fixed workflow.
        """
        return template_supports_tools(self.engine().tokenizer.chat_template)

    # -- token counting (used to trim histories to the context window) ---------

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of `text` under this model's tokenizer."""
        return list(self.engine().tokenizer(text, add_special_tokens=False)["input_ids"])

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Exact prompt length of `messages` as the chat template renders them."""
        return len(self.prompt_ids(messages, tools))

    def prompt_ids(
        self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None, tool_choice: Any = None
    ) -> list[int]:
        """The token ids the model reads for `messages`: the chat template rendered, then tokenized.

        Benchmarks feed these same ids to a bare ``model.generate`` so both sides do equal work.
        """
        formatted = [convert_to_openai_tool(t) for t in tools] if tools else None
        return self._prompt_ids(self.engine(), messages, formatted, tool_choice)

    # -- generation ------------------------------------------------------------

    def _prompt_ids(
        self,
        engine: Engine,
        messages: Sequence[BaseMessage],
        tools: list[dict[str, Any]] | None,
        tool_choice: Any,
    ) -> list[int]:
        tokenizer = engine.tokenizer
        if not tokenizer.chat_template:
            raise ValueError(f"model {self.model!r} has no chat template; use an instruct/chat model")
        native = template_supports_tools(tokenizer.chat_template)
        required = tool_choice in ("any", "required", True)
        tool_prompt = tool_system_prompt(tools, required) if tools and not native else None
        turns = to_template_messages(messages, native_tools=native, tool_prompt=tool_prompt)
        # A history ending in an AI message is a prefill: continue that message.
        prefill = (
            turns[-1]["role"] == "assistant" and not turns[-1].get("tool_calls") and turns[-1]["content"]
        )
        extra: dict[str, Any] = {"tools": tools} if tools and native else {}
        # Message text is data: "<|im_start|>" typed by a user or found in a document must stay
        # those characters, never become the control token. The template is rendered around
        # placeholders; its own markup is tokenized with special tokens, the texts without.
        placed, texts = with_placeholders(turns)
        text = tokenizer.apply_chat_template(
            placed,
            tokenize=False,
            add_generation_prompt=not prefill,
            continue_final_message=bool(prefill),
            **extra,
        )
        ids: list[int] = []
        for piece, is_text in split_placeholders(str(text), texts):
            ids += tokenizer(piece, add_special_tokens=False, split_special_tokens=is_text)["input_ids"]
        return ids

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        sink: Callable[[Event], None],
        kwargs: dict[str, Any],
    ) -> tuple[Engine, Request, list[str]]:
        tools = kwargs.pop("tools", None) or None
        tool_choice = kwargs.pop("tool_choice", None)
        opts = self.options(**kwargs)
        engine = self.engine()
        ids = self._prompt_ids(engine, messages, tools, tool_choice)
        window = opts.num_ctx or engine.context_window
        if len(ids) >= window:
            raise ValueError(
                f"the prompt is {len(ids)} tokens but the context window (num_ctx) is {window}: "
                "shorten the conversation or raise num_ctx"
            )
        greedy = opts.temperature == 0
        sampling = Sampling(
            temperature=opts.temperature,
            top_p=1.0 if greedy else opts.top_p,
            repetition_penalty=opts.repetition_penalty,
            seed=None if greedy else opts.seed,
        )
        req = Request(
            input_ids=ids,
            sampling=sampling,
            max_new_tokens=min(opts.max_new_tokens, window - len(ids)),
            stop=tuple(dict.fromkeys([*(stop or []), *opts.stop])),
            sink=sink,
        )
        return engine, req, [t["function"]["name"] for t in tools] if tools else []

    def _message(self, result: Result, tool_names: list[str]) -> AIMessage:
        usage = UsageMetadata(
            input_tokens=result.prompt_tokens,
            output_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
        )
        meta = {
            "model_name": self.model,
            "finish_reason": result.finish_reason,
            "model_provider": "huggingface",
        }
        if not tool_names:
            return AIMessage(content=result.text, usage_metadata=usage, response_metadata=meta)
        text, calls, invalid = parse_tool_calls(result.text, tool_names)
        return AIMessage(
            content=text,
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=usage,
            response_metadata=meta,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        events: queue.Queue[Event] = queue.Queue()
        engine, req, tool_names = self._request(messages, stop, events.put, kwargs)
        engine.submit(req)
        result = _drain(events.get, req)
        return ChatResult(generations=[ChatGeneration(message=self._message(result, tool_names))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = [c async for c in self._astream(messages, stop, run_manager, **kwargs)]
        message = chunks[0].message
        for chunk in chunks[1:]:
            message = message + chunk.message
        return ChatResult(generations=[ChatGeneration(message=_to_message(message))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        events: queue.Queue[Event] = queue.Queue()
        engine, req, tool_names = self._request(messages, stop, events.put, kwargs)
        engine.submit(req)
        try:
            while True:
                kind, value = events.get()
                chunk = self._chunk(kind, value, tool_names)
                if chunk is not None:
                    if run_manager and kind == "token":
                        run_manager.on_llm_new_token(value, chunk=chunk)
                    yield chunk
                if kind == "done":
                    return
        finally:
            req.cancelled.set()  # the caller stopped reading: free the batch row

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def sink(event: Event) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        engine, req, tool_names = self._request(messages, stop, sink, kwargs)
        engine.submit(req)
        try:
            while True:
                kind, value = await events.get()
                chunk = self._chunk(kind, value, tool_names)
                if chunk is not None:
                    if run_manager and kind == "token":
                        await run_manager.on_llm_new_token(value, chunk=chunk)
                    yield chunk
                if kind == "done":
                    return
        finally:
            req.cancelled.set()

    def _chunk(self, kind: str, value: Any, tools: list[str]) -> ChatGenerationChunk | None:
        """Turn one engine event into a stream chunk (None: nothing to yield yet)."""
        if kind == "error":
            raise value
        if kind == "token":
            # With tools bound, text may be a tool call: hold it until the end.
            return None if tools else ChatGenerationChunk(message=AIMessageChunk(content=value))
        message = self._message(value, tools)
        chunk = AIMessageChunk(
            content=message.content if tools else "",
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            tool_call_chunks=[
                tool_call_chunk(name=c["name"], args=_json(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(message.tool_calls)
            ],
            chunk_position="last",
        )
        if message.invalid_tool_calls:
            chunk.invalid_tool_calls = list(message.invalid_tool_calls)
        return ChatGenerationChunk(message=chunk)


def _drain(get: Callable[[], Event], req: Request) -> Result:
    """Wait for a request's result, skipping its streamed tokens."""
    try:
        while True:
            kind, value = get()
            if kind == "error":
                raise value
            if kind == "done":
                return value
    finally:
        req.cancelled.set()


def _json(args: dict[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False)


def _to_message(chunk: BaseMessage) -> AIMessage:
    if isinstance(chunk, AIMessageChunk):
        return AIMessage(
            content=chunk.content,
            tool_calls=chunk.tool_calls,
            invalid_tool_calls=chunk.invalid_tool_calls,
            usage_metadata=chunk.usage_metadata,
            response_metadata=chunk.response_metadata,
            id=chunk.id,
        )
    return AIMessage(content=chunk.content)


def resolve_model_path(model: str) -> Path:
    """Turn a model name into a local folder: embedded, a folder, or a hub id.

    Raises:
        ModelUnavailableError: when the folder is missing or the hub id is not
            in the local cache (and cannot be downloaded).
    """
    if model == EMBEDDED_MODEL:
        return ensure_embedded_model()
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if model.startswith((".", "/", "~")) or path.exists():
        raise ModelUnavailableError(f"no model folder at {path}")
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                model, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
            )
        )
    except Exception as exc:
        raise ModelUnavailableError(
            f"model {model!r} is not a local folder and could not be fetched from the Hugging Face hub "
            f"({type(exc).__name__}); download it first or pass hf/<local folder>"
        ) from None
