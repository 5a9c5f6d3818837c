"""The names of every tool, without importing the tools.

Loading the configuration checks each workflow's tool names; importing the
registry for that (thirty argument models, the guard rails, the ledger) made
every command pay for it at start-up.  As the registry loads each module it checks
that the module's tools are the ones listed here, so the two cannot drift apart unnoticed.
"""

TOOL_MODULES: dict[tuple[str, str], frozenset[str]] = {
    ("gymconsole.tools.read", "READ_TOOLS"): frozenset({
        "get_campaign_prospects", "get_green_members", "get_ppv_members", "get_past_due_members",
        "get_past_due_training_clients", "get_referral_candidates", "get_invoices_for_review",
        "get_door_access_status", "get_member",
    }),
    # the assistant's read-only query
    ("gymconsole.tools.query", "QUERY_TOOLS"): frozenset({"query_gym"}),
    ("gymconsole.tools.act", "ACT_TOOLS"): frozenset({
        "send_campaign", "notify_past_due_member", "escalate_to_collections", "issue_referral_reward", "flag_invoice",
        "suspend_door_access", "restore_door_access",
    }),
}
"""(module, its list of tools) -> the names of those tools.  The registry imports a module when one of its tools
is first asked for, so ``gymconsole tool get_member`` does not load the acting tools."""

TOOL_NAMES: frozenset[str] = frozenset().union(*TOOL_MODULES.values())
