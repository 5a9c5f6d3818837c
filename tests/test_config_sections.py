"""Configuration sections are plain classes that keep the model API the code uses: constructors validate,
copies and dumps do not, instances are frozen and compare by type and values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gymconsole.config import ChannelPacing, Config, CronSchedule, SafetyConfig, ThinkingSetting, WorkflowConfig


def test_a_constructor_validates_as_the_file_would() -> None:
    with pytest.raises(ValidationError, match="bad cron field"):
        CronSchedule(hour="25")
    with pytest.raises(ValidationError, match="expected a number, got true"):
        SafetyConfig(bulk_threshold=True)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ThinkingSetting(mood="deep")
    with pytest.raises(ValidationError, match="valid dictionary"):
        WorkflowConfig(title="T", schedule=["6", "0"], tools=[], task="t")
    workflow = WorkflowConfig(title="T", schedule={"hour": "7"}, tools=["get_member"], task="t")
    assert workflow.schedule == CronSchedule(hour="7") and workflow.schedule.describe() == "0 7 * * *"
    given = CronSchedule(minute="15")
    assert WorkflowConfig(title="T", schedule=given, tools=[], task="t").schedule is given  # taken as it is


def test_sections_are_frozen_values() -> None:
    pacing = ChannelPacing(per_hour=5, per_day=10)
    with pytest.raises(AttributeError, match="frozen"):
        pacing.per_hour = 6
    assert pacing == ChannelPacing(per_hour=5, per_day=10) != ChannelPacing(per_hour=5, per_day=11)
    assert hash(pacing) == hash(ChannelPacing(per_hour=5, per_day=10))
    assert pacing != (5, 10) and repr(pacing) == "ChannelPacing(per_hour=5, per_day=10)"


def test_copies_and_dumps_do_not_validate_and_round_trip() -> None:
    config = Config()
    copy = config.model_copy(update={"safety": config.safety.model_copy(update={"bulk_threshold": 0})})
    assert copy.safety.bulk_threshold == 0 and config.safety.bulk_threshold == 10  # unchecked, and a new object
    dumped = config.model_dump(mode="json", by_alias=True)
    assert "import" in dumped and "import_" not in dumped and "source_path" not in dumped
    assert Config.model_validate(dumped) == config == Config.from_dump(config.model_dump(mode="json"))
    assert Config.model_fields["import_"].alias == "import" and Config.model_fields["file_keys"].exclude
