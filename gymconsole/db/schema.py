"""The database schema as an ordered list of migrations.

``PRAGMA user_version`` holds how many have been applied; opening a database
applies the rest.  Money is stored as integer cents; timestamps as ISO-8601
text in UTC (``YYYY-MM-DDTHH:MM:SS``), dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re

READ_INDEXES = """
    -- The read tools' indexes: each serves named queries in tools/read.py, some by INDEXED BY (EXPLAIN QUERY
    -- PLAN is checked in tests/test_tools.py).  Defined once here, created by migration 1 and (re)built by 4.
    -- get_green_members counts (covering, grouped in index order) and its least-recent-visit sample:
    CREATE INDEX members_green ON members (status, standing, membership_type, last_visit, opted_out);
    CREATE INDEX members_recency ON members (status, standing, last_visit);
    -- get_ppv_members counts and sample:
    CREATE INDEX members_type ON members (membership_type, status, last_visit, opted_out);
    -- active members who owe, largest first (get_past_due_members, get_door_access_status):
    CREATE INDEX members_owing ON members (balance_cents, past_due_since, status)
        WHERE status = 'active' AND past_due_since IS NOT NULL AND balance_cents > 0;
    -- get_campaign_prospects: per (stage, source) range counts, contacted-recently counts, a per-stage queue,
    -- the queue of all active stages, oldest contact first (the terms must match the query's text).
    CREATE INDEX prospects_breakdown ON prospects (stage, source, opted_out, last_contacted);
    CREATE INDEX prospects_contactable ON prospects (stage, last_contacted) WHERE opted_out = 0;
    CREATE INDEX prospects_queue ON prospects (last_contacted)
        WHERE opted_out = 0 AND stage IN ('new', 'contacted', 'toured', 'trial');
    -- get_invoices_for_review: duplicates and unusual amounts of the period (grouped in index order, covered),
    -- and the period's totals as one range per status.
    CREATE INDEX invoices_review ON invoices (issued_on, member_id, amount_cents, status);
    CREATE INDEX invoices_status ON invoices (status, issued_on, amount_cents);
"""


def _rebuild(indexes: str, obsolete: tuple[str, ...]) -> str:
    """A migration that drops these indexes (and obsolete ones) wherever they exist, then creates them."""
    names = re.findall(r"CREATE INDEX (\w+)", indexes)
    return "".join(f"DROP INDEX IF EXISTS {name};\n" for name in (*obsolete, *names)) + indexes


MIGRATIONS: list[str] = [
    # 1: the gym
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE members (
        id              INTEGER PRIMARY KEY,
        first_name      TEXT NOT NULL,
        last_name       TEXT NOT NULL,
        email           TEXT,
        phone           TEXT,
        membership_type TEXT NOT NULL CHECK (membership_type IN ('monthly', 'annual', 'pay_per_visit', 'family')),
        standing        TEXT NOT NULL CHECK (standing IN ('green', 'yellow', 'red')),
        status          TEXT NOT NULL CHECK (status IN ('active', 'frozen', 'cancelled')),
        join_date       TEXT NOT NULL,
        last_visit      TEXT,
        balance_cents   INTEGER NOT NULL DEFAULT 0,
        past_due_since  TEXT,
        opted_out       INTEGER NOT NULL DEFAULT 0,
        notes           TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX members_past_due ON members (past_due_since, status, balance_cents) WHERE past_due_since IS NOT NULL;

    CREATE TABLE prospects (
        id             INTEGER PRIMARY KEY,
        first_name     TEXT NOT NULL,
        last_name      TEXT NOT NULL,
        email          TEXT,
        phone          TEXT,
        source         TEXT NOT NULL,
        stage          TEXT NOT NULL CHECK (stage IN ('new', 'contacted', 'toured', 'trial', 'lost', 'joined')),
        created_at     TEXT NOT NULL,
        last_contacted TEXT,
        opted_out      INTEGER NOT NULL DEFAULT 0,
        notes          TEXT NOT NULL DEFAULT ''
    );

    CREATE TABLE training_clients (
        id                    INTEGER PRIMARY KEY,
        member_id             INTEGER NOT NULL REFERENCES members (id),
        trainer               TEXT NOT NULL,
        package               TEXT NOT NULL,
        sessions_remaining    INTEGER NOT NULL DEFAULT 0,
        amount_past_due_cents INTEGER NOT NULL DEFAULT 0,
        past_due_since        TEXT,
        status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'ended'))
    );
    CREATE INDEX training_past_due ON training_clients (past_due_since, amount_past_due_cents) WHERE amount_past_due_cents > 0;
    CREATE INDEX training_member ON training_clients (member_id);

    CREATE TABLE invoices (
        id           INTEGER PRIMARY KEY,
        member_id    INTEGER NOT NULL REFERENCES members (id),
        issued_on    TEXT NOT NULL,
        due_on       TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('open', 'paid', 'void')),
        description  TEXT NOT NULL DEFAULT '',
        paid_on      TEXT
    );
    CREATE INDEX invoices_open ON invoices (status, due_on) WHERE status = 'open';
    CREATE INDEX invoices_member ON invoices (member_id, issued_on);

    CREATE TABLE payments (
        id           INTEGER PRIMARY KEY,
        member_id    INTEGER NOT NULL REFERENCES members (id),
        invoice_id   INTEGER REFERENCES invoices (id),
        amount_cents INTEGER NOT NULL,
        paid_on      TEXT NOT NULL,
        method       TEXT NOT NULL
    );
    CREATE INDEX payments_member ON payments (member_id, paid_on);

    CREATE TABLE referrals (
        id                 INTEGER PRIMARY KEY,
        referrer_id        INTEGER NOT NULL REFERENCES members (id),
        referred_name      TEXT NOT NULL,
        referred_member_id INTEGER REFERENCES members (id),
        referred_on        TEXT NOT NULL,
        joined_on          TEXT,
        status             TEXT NOT NULL CHECK (status IN ('pending', 'joined', 'rewarded', 'expired')),
        reward_cents       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX referrals_status ON referrals (status, referred_on);

    CREATE TABLE door_credentials (
        id           INTEGER PRIMARY KEY,
        member_id    INTEGER NOT NULL UNIQUE REFERENCES members (id),
        badge_code   TEXT NOT NULL UNIQUE,
        access_state TEXT NOT NULL CHECK (access_state IN ('active', 'suspended')),
        changed_at   TEXT NOT NULL,
        reason       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX door_state ON door_credentials (access_state, member_id);

    -- What the workflows produce.
    CREATE TABLE effects (
        key        TEXT PRIMARY KEY,
        workflow   TEXT NOT NULL,
        action     TEXT NOT NULL,
        target     TEXT NOT NULL,
        period     TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('pending', 'done')),
        run_id     INTEGER,
        created_at TEXT NOT NULL,
        done_at    TEXT,
        result     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX effects_status ON effects (status, created_at);

    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        effect_key   TEXT NOT NULL UNIQUE,
        kind         TEXT NOT NULL,
        channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
        person_kind  TEXT NOT NULL CHECK (person_kind IN ('member', 'prospect')),
        person_id    INTEGER NOT NULL,
        to_address   TEXT NOT NULL,
        subject      TEXT NOT NULL DEFAULT '',
        body         TEXT NOT NULL,
        status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        created_at   TEXT NOT NULL,
        sent_at      TEXT,
        run_id       INTEGER
    );
    CREATE INDEX outbox_status ON outbox (status, created_at);
    CREATE INDEX outbox_person ON outbox (person_kind, person_id, kind, created_at);
    CREATE INDEX outbox_day ON outbox (kind, created_at);

    CREATE TABLE collections (
        id            INTEGER PRIMARY KEY,
        effect_key    TEXT NOT NULL UNIQUE,
        member_id     INTEGER NOT NULL REFERENCES members (id),
        amount_cents  INTEGER NOT NULL,
        days_past_due INTEGER NOT NULL,
        escalated_at  TEXT NOT NULL,
        run_id        INTEGER
    );
    CREATE INDEX collections_member ON collections (member_id);

    CREATE TABLE door_changes (
        id         INTEGER PRIMARY KEY,
        effect_key TEXT NOT NULL UNIQUE,
        member_id  INTEGER NOT NULL REFERENCES members (id),
        action     TEXT NOT NULL CHECK (action IN ('suspend', 'restore')),
        reason     TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        run_id     INTEGER
    );
    CREATE INDEX door_changes_member ON door_changes (member_id, changed_at);

    CREATE TABLE flags (
        id           INTEGER PRIMARY KEY,
        effect_key   TEXT NOT NULL UNIQUE,
        kind         TEXT NOT NULL,
        subject_kind TEXT NOT NULL,
        subject_id   INTEGER NOT NULL,
        reason       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        run_id       INTEGER
    );
    CREATE INDEX flags_subject ON flags (subject_kind, subject_id);

    CREATE TABLE rewards (
        id           INTEGER PRIMARY KEY,
        effect_key   TEXT NOT NULL UNIQUE,
        referral_id  INTEGER NOT NULL REFERENCES referrals (id),
        member_id    INTEGER NOT NULL REFERENCES members (id),
        amount_cents INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        run_id       INTEGER
    );
    """ + READ_INDEXES,
    # 2: the engine's history, approvals and scheduler state
    """
    CREATE TABLE runs (
        id                 INTEGER PRIMARY KEY,
        workflow           TEXT NOT NULL,
        trigger            TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'approval')),
        mode               TEXT NOT NULL CHECK (mode IN ('claude', 'offline')),
        dry_run            INTEGER NOT NULL DEFAULT 0,
        status             TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled',
                                 'awaiting_approval', 'budget_exhausted', 'interrupted', 'missed', 'skipped')),
        started_at         TEXT NOT NULL,
        ended_at           TEXT,
        iterations         INTEGER NOT NULL DEFAULT 0,
        input_tokens       INTEGER NOT NULL DEFAULT 0,
        output_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd           REAL NOT NULL DEFAULT 0,
        summary            TEXT NOT NULL DEFAULT '',
        error              TEXT,
        pid                INTEGER,
        pruned_at          TEXT
    );
    -- History pages are newest-first by id (keyset pagination): each filter's index ends in id.
    CREATE INDEX runs_started ON runs (started_at);
    CREATE INDEX runs_workflow ON runs (workflow, id);
    CREATE INDEX runs_status ON runs (status, id);
    CREATE INDEX runs_unpruned ON runs (started_at) WHERE pruned_at IS NULL;

    CREATE TABLE run_events (
        id      INTEGER PRIMARY KEY,
        run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        at      TEXT NOT NULL,
        kind    TEXT NOT NULL,
        data    TEXT NOT NULL,
        UNIQUE (run_id, seq)
    );

    CREATE TABLE run_subjects (
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        subject_kind TEXT NOT NULL,
        subject_id   INTEGER NOT NULL,
        PRIMARY KEY (subject_kind, subject_id, run_id)
    ) WITHOUT ROWID;
    CREATE INDEX run_subjects_run ON run_subjects (run_id);

    -- One row per act that needed a person (policy `ask`).  status: waiting (a person is being asked now, by
    -- process `pid`), pending (nobody answered in time: decide later with `gymconsole approvals`), approved /
    -- partial / denied (answered while the run waited, and the run carried it out), executing -> executed (decided
    -- later and carried out from the stored plan, and a row left `executing` was interrupted and may be resumed).
    CREATE TABLE approvals (
        id            INTEGER PRIMARY KEY,
        run_id        INTEGER REFERENCES runs (id),
        workflow      TEXT NOT NULL,
        tool          TEXT NOT NULL,
        risk          TEXT NOT NULL,
        title         TEXT NOT NULL,
        plan          TEXT NOT NULL,
        item_count    INTEGER NOT NULL DEFAULT 0,
        status        TEXT NOT NULL CHECK (status IN ('waiting', 'pending', 'approved', 'partial', 'denied',
                                                      'executing', 'executed')),
        requested_at  TEXT NOT NULL,
        pid           INTEGER,
        decided_at    TEXT,
        decided_by    TEXT,
        decided_via   TEXT,
        reason        TEXT,
        approved_keys TEXT,
        executed_at   TEXT,
        result        TEXT
    );
    CREATE INDEX approvals_status ON approvals (status, requested_at);
    CREATE INDEX approvals_run ON approvals (run_id);

    -- Every decision about an act, whoever or whatever made it: a person (tui, cli, the --approve flag), the
    -- policy (auto, deny, dry run) or the timeout, and what a later approval carried out (decision `executed`).
    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        approval_id INTEGER REFERENCES approvals (id),
        run_id      INTEGER,
        workflow    TEXT NOT NULL DEFAULT '',
        tool        TEXT NOT NULL,
        risk        TEXT NOT NULL DEFAULT '',
        decision    TEXT NOT NULL CHECK (decision IN ('approved', 'partial', 'denied', 'timed_out', 'dry_run',
                                                      'executed')),
        actor       TEXT NOT NULL,
        via         TEXT NOT NULL CHECK (via IN ('tui', 'cli', 'policy', 'timeout', 'flag')),
        item_count  INTEGER NOT NULL DEFAULT 0,
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_at ON audit_log (at);
    CREATE INDEX audit_approval ON audit_log (approval_id);

    CREATE TABLE scheduler_state (
        workflow   TEXT PRIMARY KEY,
        paused     INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    """,
    # 3: message delivery (gymconsole/delivery): who claimed a message for sending and when, and retry times
    """
    ALTER TABLE outbox ADD COLUMN claimed_at TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
    CREATE INDEX outbox_sent ON outbox (channel, sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX outbox_run ON outbox (run_id, kind) WHERE run_id IS NOT NULL;
    """,
    # 4: the read tools' indexes as tools/read.py now uses them (databases made before get them rebuilt)
    _rebuild(READ_INDEXES, obsolete=("members_standing",)),
    # 5: the approval store (engine/approvals.py): states named for what happened, and the asker's process
    # identity (pid + start time) so a dead, zombie or reused-PID asker releases its requests.  SQLite cannot
    # change a CHECK in place: the tables are rebuilt, the audit log (which refers to approvals) set aside first.
    """
    CREATE TEMP TABLE audit_kept AS SELECT * FROM audit_log;
    DROP TABLE audit_log;
    CREATE TABLE approvals_new (
        id            INTEGER PRIMARY KEY,
        run_id        INTEGER REFERENCES runs (id),
        workflow      TEXT NOT NULL,
        tool          TEXT NOT NULL,
        risk          TEXT NOT NULL,
        title         TEXT NOT NULL,
        plan          TEXT NOT NULL,
        item_count    INTEGER NOT NULL DEFAULT 0,
        status        TEXT NOT NULL CHECK (status IN ('asking', 'pending', 'approved', 'partly_approved', 'denied',
                                                      'carrying_out', 'done', 'failed', 'released')),
        requested_at  TEXT NOT NULL,
        pid           INTEGER,
        pid_started   TEXT,
        decided_at    TEXT,
        decided_by    TEXT,
        decided_via   TEXT,
        reason        TEXT,
        approved_keys TEXT,
        executed_at   TEXT,
        result        TEXT
    );
    INSERT INTO approvals_new (id, run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, pid,
                               decided_at, decided_by, decided_via, reason, approved_keys, executed_at, result)
        SELECT id, run_id, workflow, tool, risk, title, plan, item_count,
               CASE status WHEN 'waiting' THEN 'asking' WHEN 'executing' THEN 'carrying_out'
                           WHEN 'executed' THEN 'done'
                           WHEN 'approved' THEN CASE WHEN executed_at IS NULL THEN 'approved' ELSE 'done' END
                           WHEN 'partial' THEN CASE WHEN executed_at IS NULL THEN 'partly_approved' ELSE 'done' END
                           ELSE status END,
               requested_at, pid, decided_at, decided_by, decided_via, reason, approved_keys, executed_at, result
        FROM approvals;
    DROP TABLE approvals;
    ALTER TABLE approvals_new RENAME TO approvals;
    CREATE INDEX approvals_status ON approvals (status, requested_at);
    CREATE INDEX approvals_run ON approvals (run_id);

    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        approval_id INTEGER REFERENCES approvals (id),
        run_id      INTEGER,
        workflow    TEXT NOT NULL DEFAULT '',
        tool        TEXT NOT NULL,
        risk        TEXT NOT NULL DEFAULT '',
        decision    TEXT NOT NULL CHECK (decision IN ('approved', 'partial', 'denied', 'timed_out', 'dry_run',
                                                      'executed', 'failed', 'released')),
        actor       TEXT NOT NULL,
        via         TEXT NOT NULL CHECK (via IN ('tui', 'cli', 'policy', 'timeout', 'flag', 'system')),
        item_count  INTEGER NOT NULL DEFAULT 0,
        detail      TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO audit_log SELECT * FROM audit_kept;
    DROP TABLE audit_kept;
    CREATE INDEX audit_at ON audit_log (at);
    CREATE INDEX audit_approval ON audit_log (approval_id);
    """,
    # one scheduler per database (engine/lease.py): who holds the schedules, and each scheduled time claimed once
    """
    CREATE TABLE IF NOT EXISTS scheduler_lease (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        owner              TEXT NOT NULL,
        role               TEXT NOT NULL,
        host               TEXT NOT NULL,
        pid                INTEGER NOT NULL,
        process_started_at TEXT NOT NULL,
        acquired_at        TEXT NOT NULL,
        heartbeat_at       TEXT NOT NULL,
        expires_at         TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS schedule_fires (
        workflow   TEXT NOT NULL,
        due_at     TEXT NOT NULL,
        owner      TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        outcome    TEXT NOT NULL,
        PRIMARY KEY (workflow, due_at)
    );
    """,
    # import (gymconsole/importer): the membership system's own IDs, who left its latest full export, and each import
    """
    ALTER TABLE members ADD COLUMN external_id TEXT;
    ALTER TABLE members ADD COLUMN missing_since TEXT;
    ALTER TABLE prospects ADD COLUMN external_id TEXT;
    ALTER TABLE prospects ADD COLUMN missing_since TEXT;
    ALTER TABLE invoices ADD COLUMN external_id TEXT;
    ALTER TABLE payments ADD COLUMN external_id TEXT;
    ALTER TABLE referrals ADD COLUMN external_id TEXT;
    ALTER TABLE training_clients ADD COLUMN external_id TEXT;
    ALTER TABLE door_credentials ADD COLUMN external_id TEXT;
    CREATE UNIQUE INDEX members_external ON members (external_id);
    CREATE UNIQUE INDEX prospects_external ON prospects (external_id);
    CREATE UNIQUE INDEX invoices_external ON invoices (external_id);
    CREATE UNIQUE INDEX payments_external ON payments (external_id);
    CREATE UNIQUE INDEX referrals_external ON referrals (external_id);
    CREATE UNIQUE INDEX training_clients_external ON training_clients (external_id);
    CREATE UNIQUE INDEX door_credentials_external ON door_credentials (external_id);
    -- One row per import applied (dry runs leave none): the newest per table is that table's freshness.
    CREATE TABLE imports (
        id          INTEGER PRIMARY KEY,
        table_name  TEXT NOT NULL,
        file        TEXT NOT NULL,
        signature   TEXT NOT NULL DEFAULT '',
        imported_at TEXT NOT NULL,
        via         TEXT NOT NULL,
        rows        INTEGER NOT NULL,
        new         INTEGER NOT NULL,
        changed     INTEGER NOT NULL,
        unchanged   INTEGER NOT NULL,
        rejected    INTEGER NOT NULL,
        missing     INTEGER NOT NULL DEFAULT 0,
        conflicts   INTEGER NOT NULL DEFAULT 0,
        run_id      INTEGER
    );
    CREATE INDEX imports_table ON imports (table_name, imported_at);
    """,
    # the assistant (engine/ask.py, engine/rules.py): questions asked, saved questions, standing approval rules
    """
    CREATE TABLE IF NOT EXISTS questions (
        run_id          INTEGER PRIMARY KEY REFERENCES runs (id),
        conversation_id INTEGER NOT NULL,
        question        TEXT NOT NULL,
        asked_at        TEXT NOT NULL,
        asked_by        TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS questions_conversation ON questions (conversation_id, run_id);

    CREATE TABLE IF NOT EXISTS saved_questions (
        name       TEXT PRIMARY KEY,
        question   TEXT NOT NULL,
        queries    TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );

    -- A standing approval: a person's decision turned into a scoped rule (engine/rules.py).
    CREATE TABLE IF NOT EXISTS approval_rules (
        id           INTEGER PRIMARY KEY,
        tool         TEXT NOT NULL,
        conditions   TEXT NOT NULL DEFAULT '[]',
        max_per_day  INTEGER,
        max_amount_per_day REAL,
        expires_at   TEXT NOT NULL,
        note         TEXT NOT NULL DEFAULT '',
        created_at   TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        revoked_at   TEXT,
        revoked_by   TEXT
    );
    CREATE TABLE IF NOT EXISTS rule_uses (
        id         INTEGER PRIMARY KEY,
        rule_id    INTEGER NOT NULL REFERENCES approval_rules (id),
        day        TEXT NOT NULL,
        at         TEXT NOT NULL,
        run_id     INTEGER,
        workflow   TEXT NOT NULL,
        item_count INTEGER NOT NULL,
        amount     REAL NOT NULL DEFAULT 0,
        detail     TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS rule_uses_day ON rule_uses (rule_id, day);
    """,
    # get_past_due_training_clients: its two queries each read one covering index (by trainer; largest first)
    """
    CREATE INDEX IF NOT EXISTS training_owing_by_trainer ON training_clients (trainer, amount_past_due_cents,
        member_id) WHERE amount_past_due_cents > 0;
    CREATE INDEX IF NOT EXISTS training_owing_largest ON training_clients (amount_past_due_cents DESC, id, member_id,
        trainer, package, past_due_since) WHERE amount_past_due_cents > 0;
    """,
    # runs end truncated, context_exceeded or rate_limited (their own statuses), and record the acts done
    # (from the gate and the ledger) and a note when the model's summary claims more.  Widening the CHECK
    # rewrites only the table's SQL text (SQLite's documented writable_schema procedure: the rows are unchanged);
    # the table created and dropped after it bumps the schema cookie so every open connection re-reads it.
    """
    PRAGMA writable_schema = ON;
    UPDATE sqlite_schema SET sql = replace(sql, '''missed'', ''skipped'')',
        '''missed'', ''skipped'', ''truncated'', ''context_exceeded'', ''rate_limited'')')
        WHERE type = 'table' AND name = 'runs' AND sql NOT LIKE '%''truncated''%';
    PRAGMA writable_schema = RESET;
    CREATE TABLE schema_cookie_bump (x);
    DROP TABLE schema_cookie_bump;
    ALTER TABLE runs ADD COLUMN acts TEXT;
    ALTER TABLE runs ADD COLUMN attention TEXT;
    CREATE INDEX effects_run ON effects (run_id, status) WHERE run_id IS NOT NULL;
    """,
    # an act is single whichever workflow asks for it (the assistant, a saved question, a scheduled workflow):
    # effect keys lose their workflow prefix (a key two workflows both claimed keeps its old form, as history);
    # and audit_log learns via 'rule' (an act a standing approval rule approved) and the decisions 'rule_added' and
    # 'rule_revoked' (widened as for runs above)
    """
    UPDATE OR IGNORE effects SET key = substr(key, length(workflow) + 2)
        WHERE workflow <> 'alerts' AND substr(key, 1, length(workflow) + 1) = workflow || ':';
    PRAGMA writable_schema = ON;
    UPDATE sqlite_schema SET sql = replace(sql, '''flag'', ''system'')', '''flag'', ''system'', ''rule'')')
        WHERE type = 'table' AND name = 'audit_log' AND sql NOT LIKE '%''rule''%';
    UPDATE sqlite_schema SET sql = replace(sql, '''released''))', '''released'', ''rule_added'', ''rule_revoked''))')
        WHERE type = 'table' AND name = 'audit_log' AND sql NOT LIKE '%''rule_added''%';
    PRAGMA writable_schema = RESET;
    CREATE TABLE schema_cookie_bump (x);
    DROP TABLE schema_cookie_bump;
    """,
    # a run records its process's start time beside its pid: over months the OS reuses pids, and a run whose
    # process is gone must not look alive because an unrelated process now has its pid
    """
    ALTER TABLE runs ADD COLUMN pid_started TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
