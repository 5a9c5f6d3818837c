"""Typed, validated configuration loaded from ``config.toml``.

Defaults live here (and in the three modules of sections it imports, ``config_claude``, ``config_gym`` and
``config_outside``) and only here; ``config.toml`` overrides them.  Every field
has a docstring, which the config view shows (read by ``config_docs`` when
asked, not at import).  Loading never raises anything but
:class:`ConfigError`, whose message is one line naming the file and the key.

Every command loads these sections at start-up, so defining them is cheap: they are plain classes
(:class:`~gymconsole.config_base.ConfigSection`) whose annotations stay strings until a configuration is
validated.  A field's type, bounds (``Annotated[int, Field(ge=1)]``), default and docstring are written
once, here; :mod:`gymconsole.config_validation` turns them and the ``@check`` rules into pydantic
validators on a cache miss, and a command whose file was validated before imports no pydantic model code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from gymconsole.config_base import ConfigSection, check, check_after, check_before, spec
from gymconsole.config_claude import ModelAccess, ModelPrice, ThinkingSetting  # noqa: F401 - imported from here
from gymconsole.config_outside import (  # noqa: F401 - these sections are imported from here
    WATCH_PATTERNS,
    AlertsConfig,
    ChannelPacing,
    DeliveryConfig,
    DoorControllerConfig,
    ImportConfig,
    ImportMapping,
    SmsGatewayConfig,
    SmtpConfig,
)
from gymconsole.config_gym import MESSAGE_PLACEHOLDERS, GymConfig, MessageTemplates  # noqa: F401 - imported from here

if TYPE_CHECKING:
    from pydantic import Field
    from pydantic_core import ValidationError

Risk = Literal["safe", "moderate", "high"]
Policy = Literal["auto", "ask", "deny"]

API_KEY_VARIABLES = ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")


class ConfigError(Exception):
    """A configuration problem, already phrased as one line for the user."""


NEVER_DAYS = 8 * 365 + 2
"""A schedule that does not fire within this many days never will (February 29 fires every 4 years)."""


def _placeholder_problem(task: str, names: set[str]) -> str | None:
    """What is wrong with a task's ``{placeholders}``: only plain threshold names, no format specs (a width of
    999999999 took 6.9 s and 1 GB), no attribute or index access (``{x.__class__}``)."""
    import string

    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(task)
                  if name is not None]
    except ValueError as exc:
        return f"cannot read its placeholders ({exc}); write a literal brace as {{{{ or }}}}"
    for name, spec, conversion in fields:
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not name.isidentifier():
            return f"placeholder {shown} must be a plain name such as {{suspend_after_days}}"
        if spec or conversion:
            return f"placeholder {shown} has a format; write plain {{{name}}}"
        if name not in names:
            return f"unknown placeholder {shown} (known: {', '.join(sorted(names))})"
    return None


class CronSchedule(ConfigSection):
    """Cron fields as APScheduler's ``CronTrigger`` takes them."""

    second: str = "0"
    """Second field (0-59); left at 0 in a gym's schedules (tests compress time with it)."""
    minute: str = "0"
    """Minute field (0-59, `*/15`, `0,30`)."""
    hour: str = "*"
    """Hour field (0-23)."""
    day: str = "*"
    """Day of month field (1-31)."""
    month: str = "*"
    """Month field (1-12)."""
    day_of_week: str = "*"
    """Day of week field (`mon`-`sun` or 0-6)."""
    week: str = "*"
    """ISO week field; `*/2` gives every second week."""

    @check_after
    def _valid_cron(self) -> None:
        from datetime import UTC, datetime, timedelta

        from apscheduler.triggers.cron import CronTrigger  # validation only

        now = datetime.now(UTC)
        try:
            trigger = CronTrigger(**self.model_dump(), timezone="UTC", end_date=now + timedelta(days=NEVER_DAYS))
        except ValueError as exc:
            raise ValueError(f"bad cron field: {exc}") from None
        if trigger.get_next_fire_time(None, now) is None:  # February 30, or April 31: never
            raise ValueError(f"the schedule {self.describe()!r} never fires (no such date in the next "
                             f"{NEVER_DAYS // 365} years)")

    def describe(self) -> str:
        """A short human text such as ``cron 0 6 * * *``."""
        text = f"{self.minute} {self.hour} {self.day} {self.month} {self.day_of_week}"
        text += f" week {self.week}" if self.week != "*" else ""
        return text + (f" second {self.second}" if self.second != "0" else "")


class WorkflowConfig(ConfigSection):
    """One workflow: a natural-language task with the tools it may use."""

    title: str
    """Short human name shown in the console."""
    enabled: bool = True
    """Whether the scheduler runs it; a disabled workflow can still be run by hand."""
    schedule: CronSchedule
    """When the scheduler runs it (in `scheduler.timezone`)."""
    model: str | None = None
    """Claude model for this workflow; empty uses `model.default_model`."""
    thinking: ThinkingSetting | None = None
    """Extended thinking for this workflow; empty uses `model.thinking`."""
    max_iterations: Annotated[int, Field(ge=1, le=50)] = 8
    """Most model round-trips in one run."""
    tools: list[str]
    """Names of the tools the model may call in this workflow."""
    task: str
    """The task given to the model; `{placeholders}` are filled from `thresholds`."""


class Thresholds(ConfigSection):
    """Business rules the tools and guard rails enforce."""

    past_due_flag_days: Annotated[int, Field(ge=1)] = 7
    """Days past due before monitoring flags a member."""
    suspend_after_days: Annotated[int, Field(ge=1)] = 14
    """Days past due before door access may be suspended."""
    suspend_min_amount: Annotated[float, Field(ge=0)] = 50.0
    """Smallest balance (USD) for which door access may be suspended."""
    escalation_days: Annotated[int, Field(ge=1)] = 60
    """Days past due before an account may go to collections."""
    escalation_min_amount: Annotated[float, Field(ge=0)] = 100.0
    """Smallest balance (USD) that may go to collections."""
    final_notice_wait_days: Annotated[int, Field(ge=0)] = 7
    """Days a final notice must stand before escalation to collections."""
    campaign_daily_limit: Annotated[int, Field(ge=0)] = 500
    """Most campaign messages sent in one day, across all runs."""
    prospect_cooldown_days: Annotated[int, Field(ge=0)] = 14
    """Days after contacting a prospect before it may be contacted again."""
    referral_window_days: Annotated[int, Field(ge=1)] = 90
    """Days after a referral in which a join earns the referrer a reward."""
    referral_reward_amount: Annotated[float, Field(ge=0)] = 25.0
    """Reward credited to a referring member (USD)."""
    invoice_review_days: Annotated[int, Field(ge=1)] = 31
    """How far back the monthly invoice review looks."""
    invoice_large_amount: Annotated[float, Field(ge=0)] = 500.0
    """Invoices above this amount (USD) are reviewed."""
    invoice_overdue_days: Annotated[int, Field(ge=1)] = 30
    """Open invoices older than this are reviewed."""


class SafetyConfig(ConfigSection):
    """What the console may do on its own."""

    dry_run: bool = False
    """Acting tools only report what they would do."""
    policy: dict[Risk, Policy] = spec(factory=lambda: {"safe": "auto", "moderate": "auto", "high": "ask"})
    """Per risk level: `auto` acts, `ask` needs a person, `deny` never acts."""
    approval_timeout_seconds: Annotated[float, Field(gt=0)] = 300.0
    """How long an `ask` waits for a person before it is saved as pending."""
    quiet_hours_start: Annotated[int, Field(ge=0, le=23)] | Literal["none"] = 21
    """Hour (local) from which no messages are sent; `"none"` for no quiet hours."""
    quiet_hours_end: Annotated[int, Field(ge=0, le=23)] | Literal["none"] = 8
    """Hour (local) at which sending may start again; `"none"` for no quiet hours."""
    bulk_threshold: Annotated[int, Field(ge=1)] = 10
    """A send to at least this many people is a bulk act (risk `high`)."""
    max_data_age_hours: Annotated[float, Field(gt=0)] = 26.0
    """Acts that depend on balances, standing or status are refused when the imported data they read is older."""

    @check_before
    def _quiet_hours(cls, data: Any) -> Any:
        """Equal bounds would silently mean "never quiet": that must be said as "none"."""
        if not isinstance(data, dict):
            return data
        start, end = data.get("quiet_hours_start", 21), data.get("quiet_hours_end", 8)
        if "none" in (start, end):
            return {**data, "quiet_hours_start": "none", "quiet_hours_end": "none"}
        if start == end and not isinstance(start, bool):
            raise ValueError(f"quiet_hours_start and quiet_hours_end are both {start}: to send at any hour, "
                             "write quiet_hours_start = \"none\"")
        return data

    @check("policy")
    def _complete_policy(cls, value: dict[str, str]) -> dict[str, str]:
        return {"safe": "auto", "moderate": "auto", "high": "ask"} | value


class SchedulerConfig(ConfigSection):
    """The background scheduler."""

    timezone: str = "America/New_York"
    """IANA timezone of every schedule."""
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 300
    """How late a run may still start; later ones are recorded as missed."""
    start_paused: bool = False
    """Start with every workflow paused."""
    lease_seconds: Annotated[float, Field(ge=1)] = 30.0
    """One scheduler per database: another process takes the schedules over this long after the holder stops renewing."""

    @check("timezone")
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value


class HistoryConfig(ConfigSection):
    """The run history."""

    retention_days: Annotated[int, Field(ge=1)] = 90
    """Events of runs older than this are pruned; the run rows stay."""


class BackupConfig(ConfigSection):
    """Daily copies of the database (made by whichever gymconsole runs the schedules)."""

    keep_days: Annotated[int, Field(ge=1)] = 14
    """Daily copies in `backups/` beside the database are kept this many days."""
    hour: Annotated[int, Field(ge=0, le=23)] = 3
    """Local hour (`scheduler.timezone`) at which the daily copy is made."""


class ConsoleConfig(ConfigSection):
    """The full-screen console, which may stay open for weeks."""

    live_runs: Annotated[int, Field(ge=1, le=500)] = 20
    """Finished runs whose live views stay in memory; older ones reopen from the history."""


class DatabaseConfig(ConfigSection):
    """Where the gym's data lives."""

    path: str = "gym.db"
    """SQLite file, relative to the config file's folder."""
    busy_wait_seconds: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    """How long a command waits for another gymconsole's write to finish before giving up with one line
    (the scheduler service waits for as long as it takes)."""


class AssistantConfig(ConfigSection):
    """The manager's assistant (`gymconsole ask`, the console's `?` prompt)."""

    model: str | None = None
    """Claude model for questions; empty uses `model.default_model`."""
    acts: Literal["ask", "policy"] = "ask"
    """`ask`: every act the assistant proposes needs a person (or a standing rule); `policy`: as `safety.policy` says."""
    max_iterations: Annotated[int, Field(ge=1, le=50)] = 10
    """Most model round-trips for one question."""
    max_tokens_per_question: Annotated[int, Field(ge=1000)] = 60_000
    """Budget: input+output tokens of one question."""
    max_cost_per_question: Annotated[float, Field(gt=0)] = 0.25
    """Budget: USD one question may spend."""
    max_cost_per_day: Annotated[float, Field(gt=0)] = 3.0
    """Budget: USD all questions of one local day may spend."""
    max_questions_per_day: Annotated[int, Field(ge=1)] = 100
    """Most questions asked in one local day."""


class Config(ConfigSection):
    """The whole configuration."""

    gym: GymConfig = spec(factory=GymConfig)
    """The gym's name, sign-off, reply-to address and phone as members see them."""
    messages: MessageTemplates = spec(factory=MessageTemplates)
    """The words of reminders, final notices, the campaign footer and the SMS STOP line."""
    database: DatabaseConfig = spec(factory=DatabaseConfig)
    """Where the gym's data lives."""
    model: ModelAccess = spec(factory=ModelAccess)
    """How the console talks to Claude."""
    thresholds: Thresholds = spec(factory=Thresholds)
    """Business rules."""
    safety: SafetyConfig = spec(factory=SafetyConfig)
    """What the console may do on its own."""
    scheduler: SchedulerConfig = spec(factory=SchedulerConfig)
    """The background scheduler."""
    history: HistoryConfig = spec(factory=HistoryConfig)
    """The run history."""
    backup: BackupConfig = spec(factory=BackupConfig)
    """Daily backups of the database."""
    delivery: DeliveryConfig = spec(factory=DeliveryConfig)
    """How queued messages leave the outbox (default: they stay in it)."""
    door_controller: DoorControllerConfig = spec(factory=DoorControllerConfig)
    """Where door access state lives (default: the database)."""
    alerts: AlertsConfig = spec(factory=AlertsConfig)
    """Alerts to the manager on failed runs and long-waiting approvals."""
    import_: ImportConfig = spec(factory=ImportConfig, alias="import")
    """Importing the membership system's exports."""
    assistant: AssistantConfig = spec(factory=AssistantConfig)
    """The manager's assistant: questions and one-off tasks."""
    console: ConsoleConfig = spec(factory=ConsoleConfig)
    """The full-screen console."""
    workflows: dict[str, WorkflowConfig] = spec(factory=dict)
    """The workflows, by name."""

    # Not part of the file: where it was loaded from and which keys it set.
    source_path: Path | None = spec(None, exclude=True)
    """The file this configuration came from."""
    file_keys: frozenset[str] = spec(frozenset(), exclude=True)
    """Dotted keys that the file set (the rest are defaults)."""

    @check_after
    def _known_tools(self) -> None:
        from gymconsole.tools.names import TOOL_NAMES  # the names only: the tools themselves load when used

        for name, workflow in self.workflows.items():
            for tool in workflow.tools:
                if tool not in TOOL_NAMES:
                    raise ValueError(f"workflows.{name}.tools: unknown tool {tool!r}")
            problem = _placeholder_problem(workflow.task, set(self.thresholds.model_dump()))
            if problem:
                raise ValueError(f"workflows.{name}.task: {problem}")

    @check_after
    def _messages_have_their_values(self) -> None:
        """A template naming `{gym_phone}` with no phone set would send members an empty gap."""
        needs = {"gym_phone": ("phone", self.gym.phone), "reply_to": ("reply_to", self.gym.reply_to)}
        for kind, template in self.messages.model_dump().items():
            for placeholder, (key, value) in needs.items():
                if "{" + placeholder + "}" in template and not value:
                    raise ValueError(f"messages.{kind} uses {{{placeholder}}} but gym.{key} is empty")

    @check_after
    def _alerts_have_a_mail_server(self) -> None:
        if self.alerts.email_to and not (self.delivery.smtp.host and self.delivery.smtp.from_address):
            raise ValueError("alerts.email_to needs delivery.smtp.host and delivery.smtp.from_address")

    def database_path(self) -> Path:
        """The database path, resolved against the config file's folder."""
        path = Path(self.database.path).expanduser()
        if not path.is_absolute() and self.source_path is not None:
            path = self.source_path.parent / path
        return path

    def title_of(self, workflow: str) -> str:
        """A workflow's title; the name itself for one no longer in the configuration (old runs, approvals)."""
        return self.workflows[workflow].title if workflow in self.workflows else workflow

    def model_for(self, workflow: str) -> str:
        """The model a workflow runs on."""
        return self.workflows[workflow].model or self.model.default_model

    def thinking_for(self, workflow: str) -> ThinkingSetting:
        """The extended-thinking setting a workflow runs with."""
        return self.workflows[workflow].thinking or self.model.thinking

    def task_for(self, workflow: str) -> str:
        """The workflow's task text with thresholds filled in."""
        return self.workflows[workflow].task.format(**self.thresholds.model_dump())

    def source_of(self, dotted_key: str) -> str:
        """Where a value came from: the file, or the built-in default."""
        if any(k == dotted_key or k.startswith(dotted_key + ".") for k in self.file_keys):
            return self.source_path.name if self.source_path else "file"
        return "default"


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.add(dotted)
        if isinstance(value, dict):
            keys |= _dotted_keys(value, dotted + ".")
    return keys


def error_line(error: ValidationError) -> str:
    """A validation error as one line: the dotted key of its first problem, then what is wrong."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else message


def parse_config(data: dict[str, Any], source_path: Path | None = None) -> Config:
    """Validate already-parsed TOML data."""
    from pydantic_core import ValidationError

    label = str(source_path) if source_path else "config"
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{label}: {error_line(exc)}") from None
    return config.model_copy(update={"source_path": source_path, "file_keys": frozenset(_dotted_keys(data))})


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; every problem is a one-line ConfigError."""
    source = Path(path)
    return config_from_bytes(read_config_bytes(source), source)


def read_config_bytes(source: Path) -> bytes:
    """The config file's bytes; a missing or unreadable file is a one-line ConfigError."""
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None


def config_from_bytes(raw: bytes, source: Path) -> Config:
    """Parse and validate a config file's bytes (newlines read as text files are: \\r\\n and \\r are \\n)."""
    import tomllib  # here, not at the top: a start-up that finds this file validated before parses no TOML

    try:
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse_config(data, source.resolve())


def find_api_key(env: dict[str, str] | None = None) -> str | None:
    """The Claude API key from the environment (after `.env` was loaded), or None."""
    env = os.environ if env is None else env
    for name in API_KEY_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return None
