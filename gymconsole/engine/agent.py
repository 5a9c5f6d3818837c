"""The Claude loop: stream an answer, run the tools it asks for through the gate, repeat.

One request per iteration, streamed with the official SDK (``AsyncAnthropic``,
imported lazily: it costs a second); the answer is assembled in :mod:`stream`
and the request laid out in :mod:`request` (cached shared prefix, thinking).

Only some stop reasons mean the answer is complete.  Tools run only when
``stop_reason == "tool_use"``.  A text answer cut off at ``max_tokens`` is
continued (the partial answer goes back and the model is asked for the rest),
and so is a ``pause_turn`` (the content goes back as it is), up to
``model.max_continuations`` times; then the run ends ``truncated``.
``model_context_window_exceeded`` ends it ``context_exceeded``, a refusal
``failed``: never ``succeeded`` with half an answer.

The SDK's own retries are off (``max_retries=0``): its ``retry-after`` has no
cap.  Ours never retry earlier than the server asks; a wait longer than
``model.max_wait_seconds`` ends the run ``rate_limited`` with the time it could
go on.  Waits are paced by the shared input-token limiter on the injected clock.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import random
import warnings
from datetime import timedelta
from typing import Any

from gymconsole.engine.stream import Answer, stream_once
from gymconsole.engine.events import Notice, RateLimitWait, UsageUpdated
from gymconsole.engine.ratelimit import (
    ConversationEstimate,
    InputTokenLimiter,
    backoff_seconds,
    classify_fault,
    estimate_tokens,
)
from gymconsole.engine.request import CONTINUE_PROMPT, SYSTEM_PROMPT, RequestPlan, ThinkingNotSupported, first_turn
from gymconsole.engine.session import RunOutcome, RunSession

log = logging.getLogger(__name__)

__all__ = ["ClaudeAgent", "RunFailure", "SYSTEM_PROMPT"]

COMPLETE = frozenset({"end_turn", "stop_sequence"})


class RunFailure(Exception):
    """The run cannot go on; the message is one line, safe to show and store."""


class RateLimited(Exception):
    """The API asked for a longer wait than ``model.max_wait_seconds``."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class ClaudeAgent:
    """Runs a workflow's task with Claude; one instance per runner, one client per run."""

    system_prompt = SYSTEM_PROMPT

    def __init__(self, *, api_key: str, base_url: str | None, limiter: InputTokenLimiter,
                 rng: random.Random | None = None) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self.limiter = limiter
        self.rng = rng or random.Random()

    def redact(self, text: str) -> str:
        """Whatever happens, the key never reaches an event, a log or the database."""
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    async def _client(self, timeout: float) -> Any:
        # Importing the SDK takes about a second: do it off the event loop so a live screen keeps painting.
        anthropic = await asyncio.to_thread(importlib.import_module, "anthropic")
        # The SDK turns its loggers to DEBUG at import when ANTHROPIC_LOG=debug: request bodies hold member data.
        for name in ("anthropic", "httpx2", "httpcore2"):
            logger = logging.getLogger(name)
            logger.setLevel(max(logger.level, logging.WARNING))
        # The SDK warns on stderr about retired models; the run says it as a Notice instead (see _model_notice).
        warnings.filterwarnings("ignore", message=r"The model '.*' is deprecated", category=DeprecationWarning)
        return anthropic.AsyncAnthropic(api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=timeout)

    @staticmethod
    def _model_notice(model: str) -> str | None:
        """The SDK's own list of retiring models (a private module: best effort)."""
        try:
            from anthropic._data import DEPRECATED_MODELS
        except ImportError:
            return None
        if model not in DEPRECATED_MODELS:
            return None
        return (f"model {model} is deprecated and reaches end of life on {DEPRECATED_MODELS[model]}: "
                "choose a newer one in config.toml (model.default_model or the workflow's model)")

    async def run(self, session: RunSession) -> RunOutcome:
        try:
            plan = RequestPlan.for_workflow(session.config, session.workflow, self.system_prompt)
        except ThinkingNotSupported as exc:
            return RunOutcome("failed", "", f"thinking: {exc} (config.toml)")
        client = await self._client(session.config.model.request_timeout_seconds)
        try:
            return await self._loop(client, session, plan)
        except RunFailure as exc:
            return RunOutcome("failed", session.last_text, self.redact(str(exc)))
        except RateLimited as exc:
            resume = session.ctx.clock.now() + timedelta(seconds=exc.seconds)
            local = resume.astimezone(session.ctx.local_now().tzinfo)
            return RunOutcome("rate_limited", session.last_text,
                              self.redact(f"{exc.reason}: the API asked to wait {exc.seconds:,.0f} s, longer than "
                                          f"model.max_wait_seconds ({session.config.model.max_wait_seconds:,.0f} s); "
                                          f"it can go on after {local:%H:%M:%S}"), resume_at=resume)
        finally:
            await client.close()

    def _opening(self, session: RunSession) -> list[dict[str, Any]]:
        """The conversation the first request carries (the assistant adds earlier questions)."""
        now = session.ctx.local_now()
        now_line = f"Now: {now:%A %Y-%m-%d %H:%M} ({session.config.scheduler.timezone})."
        return [{"role": "user", "content": first_turn(session.config, session.workflow, now_line,
                                                        session.ctx.dry_run)}]

    def _budget_left(self, session: RunSession, next_input: int) -> str | None:
        m, used = session.config.model, session.usage
        if used.total_tokens + next_input > m.max_tokens_per_run:
            return (f"token budget: the run has used {used.total_tokens:,} tokens and the next request needs about "
                    f"{next_input:,} more (max_tokens_per_run {m.max_tokens_per_run:,})")
        assert session.price is not None
        next_cost = next_input * session.price.input / 1_000_000
        if used.cost_usd + next_cost > m.max_cost_per_run:
            return (f"cost budget: the run has cost ${used.cost_usd:.4f} and the next request about "
                    f"${next_cost:.4f} more (max_cost_per_run ${m.max_cost_per_run:.2f})")
        return None

    async def _loop(self, client: Any, session: RunSession, plan: RequestPlan) -> RunOutcome:
        cfg, name = session.config, session.workflow
        workflow = cfg.workflows[name]
        session.price = cfg.model.price_for(plan.model)
        if notice := self._model_notice(plan.model):
            await session.emit(Notice, level="warning", message=notice)
        messages = self._opening(session)
        estimator = ConversationEstimate()
        continuations, carried = 0, ""
        while True:
            body = plan.body(messages)
            request_bytes = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
            estimate = estimator.estimate(request_bytes)
            if reason := self._budget_left(session, estimate):
                return RunOutcome("budget_exhausted", session.last_text, reason)
            await session.start_iteration()
            answer = await self._request(client, session, body, estimate, plan.headers())
            await self._account(session, answer, estimator, request_bytes, estimate)
            if answer.text.strip():
                session.last_text = (carried + answer.text).strip()
            stop, uses = answer.stop_reason, answer.tool_uses
            if stop == "tool_use" and uses or stop == "max_tokens" and uses:
                if outcome := self._out_of_budget(session, workflow.max_iterations):
                    return outcome
                carried = ""
                messages.append({"role": "assistant", "content": answer.echo()})
                messages.append({"role": "user", "content": await self._run_tools(session, answer)})
                continue
            if stop in ("max_tokens", "pause_turn"):
                if continuations >= cfg.model.max_continuations:
                    return self._cut_off(session, stop, continuations)
                continuations += 1
                carried += answer.text
                await session.emit(Notice, level="info", message=self._continuing(stop, continuations, cfg))
                if answer.echo():
                    messages.append({"role": "assistant", "content": answer.echo()})
                if stop == "max_tokens" or not answer.echo():
                    messages.append({"role": "user", "content": [{"type": "text", "text": CONTINUE_PROMPT}]})
                continue
            return self._final(session, stop, (carried + answer.text).strip())

    @staticmethod
    def _continuing(stop: str, number: int, cfg: Any) -> str:
        what = ("the answer was cut off at max_tokens" if stop == "max_tokens"
                else "the API paused the answer (pause_turn)")
        return f"{what}; asking for the rest (continuation {number} of {cfg.model.max_continuations})"

    @staticmethod
    def _cut_off(session: RunSession, stop: str, continuations: int) -> RunOutcome:
        m = session.config.model
        if stop == "max_tokens":
            why = (f"the answer was still cut off at max_tokens after {continuations} continuation(s); "
                   f"raise model.max_output_tokens ({m.max_output_tokens:,}) or model.max_continuations")
        else:
            why = (f"the API paused the answer again after {continuations} continuation(s); "
                   f"raise model.max_continuations ({m.max_continuations}) or run it again")
        return RunOutcome("truncated", session.last_text, why)

    @staticmethod
    def _final(session: RunSession, stop: str | None, text: str) -> RunOutcome:
        if stop in COMPLETE or stop == "tool_use":
            return RunOutcome("succeeded", text or session.last_text)
        if stop == "model_context_window_exceeded":
            return RunOutcome("context_exceeded", session.last_text,
                              "the conversation filled the model's context window and the answer was cut off; "
                              "lower the workflow's max_iterations, narrow its task, or use a model with a larger "
                              "window")
        if stop == "refusal":
            return RunOutcome("failed", session.last_text, "the model declined the task (refusal)")
        return RunOutcome("failed", session.last_text, f"the model stopped for a reason this console does not know "
                                                       f"({stop!r}); the answer may be incomplete")

    async def _account(self, session: RunSession, answer: Answer, estimator: ConversationEstimate,
                       request_bytes: int, estimate: int) -> None:
        usage = answer.usage
        assert session.price is not None
        streamed = estimate_tokens(len(json.dumps(answer.echo(), ensure_ascii=False).encode()))  # thinking too
        session.usage.add_reported(session.price, usage, estimate, output_estimate=streamed)
        if usage.input is not None:
            estimator.learn(request_bytes, usage.input_total)
        else:
            estimator.learn(request_bytes, estimate)
        u = session.usage
        await session.emit(UsageUpdated, input_tokens=u.input, output_tokens=u.output, cache_read_tokens=u.cache_read,
                           cache_write_tokens=u.cache_write, cost_usd=round(u.cost_usd, 6),
                           request_bytes=request_bytes, unknown_requests=u.unknown_requests)

    def _out_of_budget(self, session: RunSession, max_iterations: int) -> RunOutcome | None:
        if session.iterations >= max_iterations:
            return RunOutcome("budget_exhausted", session.last_text,
                              f"iteration budget: stopped after {session.iterations} model round-trips "
                              f"(max_iterations {max_iterations}); the last tool calls asked for were not run")
        if reason := self._spent(session):
            return RunOutcome("budget_exhausted", session.last_text, reason + "; the last tool calls were not run")
        return None

    def _spent(self, session: RunSession) -> str | None:
        m, used = session.config.model, session.usage
        if used.total_tokens >= m.max_tokens_per_run:
            return f"token budget: {used.total_tokens:,} tokens used (max_tokens_per_run {m.max_tokens_per_run:,})"
        spent = used.cost_usd + used.estimated_cost_usd  # a request the API gave no usage for counts its estimate
        if spent >= m.max_cost_per_run:
            estimated = " (part of it estimated: the API did not report all usage)" if used.estimated_cost_usd else ""
            return f"cost budget: ${spent:.4f} spent{estimated} (max_cost_per_run ${m.max_cost_per_run:.2f})"
        return None

    async def _run_tools(self, session: RunSession, answer: Answer) -> list[dict[str, Any]]:
        results = []
        for use in answer.tool_uses:
            if answer.stop_reason == "max_tokens":
                outcome = await session.reject(use.id, use.name, use.input, "not run: the answer hit max_tokens and "
                                               "this call may be cut off; ask again with a shorter input")
            elif use.error is not None:
                outcome = await session.reject(use.id, use.name, use.input, use.error)
            else:
                outcome = await session.call(use.name, use.input, call_id=use.id)
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use.id, "content": outcome.content()}
            if outcome.is_error:
                block["is_error"] = True
            results.append(block)
        return results

    async def _request(self, client: Any, session: RunSession, body: dict[str, Any], estimate: int,
                       headers: dict[str, str]) -> Answer:
        """One answer, paced and retried; RunFailure when it cannot be had, RateLimited for a long wait."""
        m = session.config.model

        async def on_wait(seconds: float, reason: str) -> None:
            await session.emit(RateLimitWait, seconds=round(seconds, 3), reason=reason)

        attempt = 0
        while True:
            reservation = await self.limiter.acquire(estimate, on_wait)
            answer = Answer()
            try:
                await stream_once(client, session, body, answer, headers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fault = classify_fault(exc)
                if fault is None:
                    raise
                reason = self.redact(fault.reason)
                if not fault.retryable:
                    raise RunFailure(reason) from None
                if attempt >= m.max_retries:
                    raise RunFailure(f"gave up after {attempt + 1} attempts: {reason}") from None
                if answer.streamed_text:
                    await session.emit(Notice, level="warning",
                                       message="the answer was interrupted; the partial text above is discarded")
                if fault.retry_after is not None:  # never earlier than the server asks
                    wait = fault.retry_after
                    if wait > m.max_wait_seconds:
                        await on_wait(wait, f"{reason}; longer than model.max_wait_seconds, the run stops here")
                        raise RateLimited(reason, wait) from None
                else:
                    wait = backoff_seconds(attempt, m.retry_base_seconds, m.retry_max_seconds, self.rng)
                attempt += 1
                await on_wait(wait, f"{reason}; retry {attempt} of {m.max_retries}")
                await session.ctx.clock.sleep(wait)
                continue
            reported = answer.usage.input_total if answer.usage.input is not None else estimate
            self.limiter.settle(reservation, reported)
            return answer
