"""The names of every tool, without importing the tools.

Loading the configuration checks each workflow's tool names; importing the
registry for that (thirty argument models, the guard rails, the ledger) made
every command pay for it at start-up.  The registry checks at import that this
list and its tools agree, so the two cannot drift apart unnoticed.
"""

TOOL_NAMES: frozenset[str] = frozenset({
    # read
    "get_campaign_prospects", "get_green_members", "get_ppv_members", "get_past_due_members",
    "get_past_due_training_clients", "get_referral_candidates", "get_invoices_for_review",
    "get_door_access_status", "get_member",
    # read: the assistant's read-only query
    "query_gym",
    # act
    "send_campaign", "notify_past_due_member", "escalate_to_collections", "issue_referral_reward", "flag_invoice",
    "suspend_door_access", "restore_door_access",
})
