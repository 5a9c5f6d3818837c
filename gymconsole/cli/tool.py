"""``gymconsole tool NAME [JSON_ARGS]``: run one tool by hand, exactly as the model would call it.

The call goes through ``registry.call_tool`` (argument validation, guard
rails, the 4 KB result bound) and prints the JSON result.  Read tools just
run.  An acting tool needs ``--yes``: it then passes the approval gate like
any other act (``safety.policy`` ``deny`` still refuses it, every decision is
audited) with you, the OS user, approving via ``cli``.  ``--dry-run`` (or
``safety.dry_run``) shows what an act would do and changes nothing; it needs
no ``--yes``.

Exit status: 0 done; 1 the tool returned an error or the act was not done;
2 bad usage (unknown tool, bad JSON, an act without --yes, no database).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.config import Config
from gymconsole.db import open_database
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import REGISTRY, TOOL_NAMES, Decision, ToolOutcome, call_tool


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tool", help="run one tool by hand and print its JSON result",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("name", metavar="NAME", help="tool name: " + ", ".join(sorted(TOOL_NAMES)))
    parser.add_argument("json_args", nargs="?", default="{}", metavar="JSON_ARGS",
                        help='the tool\'s arguments as a JSON object, e.g. \'{"member_id": 1}\' (default {})')
    parser.add_argument("--yes", action="store_true", default=argparse.SUPPRESS,
                        help="approve an acting tool's plan yourself (recorded as you, via cli)")
    parser.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                        help="acting tools only report what they would do")
    parser.set_defaults(handler=handle)


def parse_args_json(text: str) -> dict[str, Any]:
    """The JSON_ARGS argument as a dict, or a one-line usage error."""
    from gymconsole.tools.base import JsonTooBig, loads_bounded

    try:
        value = loads_bounded(text)
    except json.JSONDecodeError as exc:
        raise common.UsageError(f"JSON_ARGS is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except JsonTooBig as exc:
        raise common.UsageError(f"JSON_ARGS: {exc}") from None
    if not isinstance(value, dict):
        raise common.UsageError(f"JSON_ARGS must be a JSON object like '{{\"member_id\": 1}}', not {type(value).__name__}")
    return value


def handle(args: argparse.Namespace) -> int:
    tool = REGISTRY.get(args.name)
    if tool is None:
        raise common.UsageError(f"unknown tool {args.name!r}; tools: {', '.join(sorted(TOOL_NAMES))}")
    raw = parse_args_json(args.json_args)
    config = common.config_from(args)
    dry_run = bool(getattr(args, "dry_run", False)) or config.safety.dry_run
    if tool.kind == "act" and not dry_run and not getattr(args, "yes", False):
        raise common.UsageError(f"{tool.name} acts on the gym's data (risk {tool.risk}): add --yes to approve it "
                                "yourself, or --dry-run to see what it would do")
    outcome = common.run_async(_call(config, tool.name, raw, dry_run))
    common.print_json(outcome.result)
    if outcome.is_error:
        return 1
    if outcome.decision is not None and not outcome.decision.acts and outcome.decision.status != "dry_run":
        return 1
    return 0


async def _call(config: Config, name: str, raw: dict[str, Any], dry_run: bool) -> ToolOutcome:
    clock = SystemClock()
    async with open_database(config.database_path()) as db:
        ctx = ToolContext(db, config, clock, workflow="manual", dry_run=dry_run)
        if REGISTRY[name].kind == "read":
            return await call_tool(ctx, name, raw, None, _no_acts)
        # Imported here: read tools never load the engine.
        from gymconsole.engine.events import EventBus
        from gymconsole.engine.gate import ApprovalGate, ApprovalRequest, current_user

        async def approve_as_user(request: ApprovalRequest) -> Decision:
            return Decision("approved", "cli", current_user(), "approved with --yes")

        # Every act is asked (so it is recorded as this person's approval), except what the policy denies.
        policy = {risk: "deny" if rule == "deny" else "ask" for risk, rule in config.safety.policy.items()}
        gate_config = config.model_copy(update={"safety": config.safety.model_copy(update={"policy": policy})})
        gate = ApprovalGate(db=db, config=gate_config, clock=clock, bus=EventBus(), asker=approve_as_user)
        return await call_tool(ctx, name, raw, None, gate.approve, gate.mark_executed)


async def _no_acts(ctx: ToolContext, plan: ActionPlan) -> Decision:
    return Decision("denied", "cli", "cli", "read-only call")
