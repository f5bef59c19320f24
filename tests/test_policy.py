from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from core.domain.categories import DataCategory
from core.domain.deadlines import Duration, TimeUnit
from core.domain.policy import (
    DEFAULT_POLICY_PATH,
    Permission,
    Policy,
    PolicyError,
    QuietHours,
    load_policy,
)
from core.domain.requests import RequestKind
from core.domain.staff import Role
from core.errors import ConfigurationError, NotFound, PolicyDenied, PrivacyError

DEFAULT_TEXT = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")

# A small shop in Germany replacing the whole policy with its own file.
REPLACEMENT = """
version = "shop-7"
notice_version = "2027-01"
default_jurisdiction = "gdpr"
default_timezone = "Europe/Berlin"
default_phone_region = "de"
followup_min_interval = "60 days"
inactive_after = "2 years"
conversation_state_ttl = "7 days"
export_rate_limit = 1
approval_required = ["erasure", "rectification", "restriction"]

[quiet_hours]
start = "20:00"
end = "08:00"

[roles]
admin = ["staff.manage", "lookup.reveal", "queue.view"]
agent = ["queue.view", "request.view"]
auditor = []

[categories.identity]
retention = "24 months"
fields = ["name", "telegram_id"]
[categories.contact]
retention = "24 months"
fields = ["phone", "email"]
[categories.behaviour]
retention = "90 days"
fields = ["conversation_state"]
[categories.transaction]
retention = "24 months"
fields = ["order_id", "total"]
legal_hold = "10 years"
[categories.preference]
retention = "12 months"
fields = ["survey_answers"]

[purposes.service]
consent_based = false
categories = ["identity", "contact", "transaction"]

[purposes.follow_up]
consent_based = true
categories = ["contact", "preference"]

[jurisdictions.gdpr]
name = "DSGVO"
respond_within = "1 month"
extension = "2 months"
timezone = "Europe/Berlin"
holidays = [2027-10-03, "2027-12-25"]
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """The default policy with one exact piece of text replaced."""
    assert DEFAULT_TEXT.count(old) == 1, f"{old!r} must occur once in default.toml"
    return write(tmp_path, DEFAULT_TEXT.replace(old, new))


def load_error(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return caught.value


def assert_names(error: PolicyError, path: Path, key: str, problem: str) -> None:
    message = str(error)
    assert str(path) in message
    assert key in message
    assert problem in message
    assert error.key == key


# --- the shipped default ----------------------------------------------------------


def test_default_policy_is_loaded_from_core_policy_folder(policy: Policy) -> None:
    assert policy.source == DEFAULT_POLICY_PATH
    assert DEFAULT_POLICY_PATH.parts[-3:] == ("core", "policy", "default.toml")


def test_default_policy_loads_same_with_explicit_path(policy: Policy) -> None:
    assert load_policy(DEFAULT_POLICY_PATH) == policy


def test_default_notice_version_is_2026_11(policy: Policy) -> None:
    assert policy.notice_version == "2026-11"


def test_default_jurisdiction_is_pdpo_in_hong_kong(policy: Policy) -> None:
    assert policy.jurisdiction().key == "pdpo"
    assert policy.default_timezone == "Asia/Hong_Kong"
    assert policy.default_phone_region == "HK"


def test_default_purposes_are_in_display_order(policy: Policy) -> None:
    assert [p.key for p in policy.purposes] == [
        "service",
        "follow_up",
        "marketing",
        "personalization",
        "analytics",
        "third_party_sharing",
        "whatsapp_messages",
    ]


def test_the_whatsapp_opt_in_is_asked_only_on_whatsapp(policy: Policy) -> None:
    assert "whatsapp_messages" in [p.key for p in policy.consent_purposes("whatsapp")]
    assert "whatsapp_messages" not in [p.key for p in policy.consent_purposes("telegram")]


def test_service_is_the_only_purpose_not_based_on_consent(policy: Policy) -> None:
    assert [p.key for p in policy.purposes if not p.consent_based] == ["service"]
    assert "service" not in [p.key for p in policy.consent_purposes()]


def test_only_marketing_is_marked_marketing(policy: Policy) -> None:
    assert [p.key for p in policy.purposes if p.marketing] == ["marketing"]


def test_only_third_party_sharing_is_marked_sharing(policy: Policy) -> None:
    assert [p.key for p in policy.purposes if p.sharing] == ["third_party_sharing"]


def test_every_purpose_uses_only_defined_categories(policy: Policy) -> None:
    defined = {c.key for c in policy.categories}
    assert all(set(p.categories) <= defined for p in policy.purposes)


def test_purpose_translation_keys_follow_naming_scheme(policy: Policy) -> None:
    marketing = policy.purpose("marketing")
    assert marketing.title_key == "purpose.marketing.title"
    assert marketing.description_key == "purpose.marketing.description"


def test_default_defines_every_core_data_category(policy: Policy) -> None:
    assert [c.key for c in policy.categories] == [c.value for c in DataCategory]


def test_no_field_belongs_to_two_categories(policy: Policy) -> None:
    fields = [f for c in policy.categories for f in c.fields]
    assert len(fields) == len(set(fields))


def test_field_is_found_in_its_category(policy: Policy) -> None:
    assert policy.category_of("phone").key == "contact"


def test_transactions_keep_invoices_under_legal_hold_for_seven_years(policy: Policy) -> None:
    transaction = policy.category("transaction")
    assert transaction.retention == Duration(24, TimeUnit.MONTHS)
    assert transaction.legal_hold == Duration(84, TimeUnit.MONTHS)


def test_gdpr_allows_one_month_plus_two(policy: Policy) -> None:
    gdpr = policy.jurisdiction("gdpr")
    assert (gdpr.respond_within, gdpr.extension) == (
        Duration.parse("1 month"),
        Duration.parse("2 months"),
    )
    assert gdpr.timezone == "Europe/Berlin"


def test_ccpa_clock_has_acknowledgement_opt_out_and_reask(policy: Policy) -> None:
    ccpa = policy.jurisdiction("ccpa")
    assert ccpa.respond_within == ccpa.extension == Duration.parse("45 days")
    assert ccpa.acknowledge_within == Duration.parse("10 working days")
    assert ccpa.opt_out_within == Duration.parse("15 working days")
    assert ccpa.opt_out_reask_after == Duration.parse("12 months")


def test_pipl_uses_15_working_days_and_cites_the_national_standard(policy: Policy) -> None:
    pipl = policy.jurisdiction("pipl")
    assert pipl.respond_within == Duration.parse("15 working days")
    assert "GB/T 35273-2020" in pipl.note
    assert pipl.extension is None


def test_pdpo_allows_40_days_without_extension(policy: Policy) -> None:
    pdpo = policy.jurisdiction("pdpo")
    assert pdpo.respond_within == Duration.parse("40 days")
    assert pdpo.extension is None


def test_gdpr_response_due_is_end_of_berlin_day(policy: Policy) -> None:
    received = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    due = policy.jurisdiction("gdpr").response_due(received)
    assert due == datetime(2026, 2, 28, 22, 59, 59, 999999, tzinfo=UTC)


def test_gdpr_extension_runs_from_the_first_deadline(policy: Policy) -> None:
    received = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    due = policy.jurisdiction("gdpr").extended_due(received)
    assert due.astimezone(policy.jurisdiction("gdpr").zone).date() == date(2026, 4, 28)


def test_pdpo_extension_is_denied(policy: Policy) -> None:
    with pytest.raises(PolicyDenied, match="no extension"):
        policy.jurisdiction("pdpo").extended_due(datetime(2026, 1, 1, tzinfo=UTC))


def test_ccpa_acknowledgement_due_after_10_business_days_the_day_of_receipt_first(
    policy: Policy,
) -> None:
    received = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # Friday in Los Angeles: day 1
    due = policy.jurisdiction("ccpa").acknowledge_due(received)
    assert due is not None
    assert due.astimezone(policy.jurisdiction("ccpa").zone).date() == date(2026, 3, 19)


def test_regime_without_acknowledgement_has_no_acknowledgement_due(policy: Policy) -> None:
    assert policy.jurisdiction("pdpo").acknowledge_due(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_admin_has_every_permission(policy: Policy) -> None:
    assert all(policy.allows("admin", p) for p in Permission)


def test_agent_sees_masked_data_only(policy: Policy) -> None:
    assert policy.allows(Role.AGENT, "lookup.masked")
    assert not policy.allows(Role.AGENT, "lookup.reveal")


def test_auditor_cannot_approve_requests(policy: Policy) -> None:
    assert policy.allows("auditor", "audit.verify")
    assert not policy.allows("auditor", "request.approve")


def test_unknown_role_is_allowed_nothing(policy: Policy) -> None:
    assert not policy.allows("intern", "queue.view")


def test_unknown_permission_in_code_raises(policy: Policy) -> None:
    with pytest.raises(ValueError, match=r"unknown permission 'queue\.veiw'"):
        policy.allows("admin", "queue.veiw")


def test_erasure_and_rectification_need_approval(policy: Policy) -> None:
    assert policy.approval_required == {RequestKind.ERASURE, RequestKind.RECTIFICATION}
    assert not policy.needs_approval("access")


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (time(21, 0), True),
        (time(23, 30), True),
        (time(3, 0), True),
        (time(8, 59), True),
        (time(9, 0), False),
        (time(14, 0), False),
        (time(20, 59), False),
    ],
)
def test_quiet_hours_wrap_past_midnight(policy: Policy, at: time, quiet: bool) -> None:
    assert policy.quiet_hours.contains(at) is quiet


def test_quiet_hours_with_equal_start_and_end_are_never_quiet() -> None:
    assert not QuietHours(time(9, 0), time(9, 0)).contains(time(9, 0))


def test_default_timings_and_limits(policy: Policy) -> None:
    assert policy.followup_min_interval == Duration.parse("30 days")
    assert policy.inactive_after == Duration.parse("3 years")
    assert policy.conversation_state_ttl == Duration.parse("30 days")
    assert policy.export_rate_limit == 3
    assert policy.followup_purpose == "follow_up"


def test_key_store_backups_are_kept_35_days_by_default(policy: Policy) -> None:
    assert policy.key_backup_retention == Duration.parse("35 days")


def test_a_policy_without_key_backup_retention_keeps_the_default(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, REPLACEMENT)).key_backup_retention == Duration(
        35, TimeUnit.DAYS
    )


def test_a_shop_can_keep_key_store_backups_for_a_shorter_time(tmp_path: Path) -> None:
    path = variant(tmp_path, 'key_backup_retention = "35 days"', 'key_backup_retention = "7 days"')
    assert load_policy(path).key_backup_retention == Duration(7, TimeUnit.DAYS)


def test_a_key_backup_retention_that_is_not_a_duration_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'key_backup_retention = "35 days"', "key_backup_retention = 35")
    assert_names(load_error(path), path, "key_backup_retention", "expected a duration")


def test_unknown_purpose_lookup_raises_not_found(policy: Policy) -> None:
    with pytest.raises(NotFound, match="no purpose 'bogus'"):
        policy.purpose("bogus")


def test_unknown_jurisdiction_lookup_raises_not_found(policy: Policy) -> None:
    with pytest.raises(NotFound, match="no jurisdiction 'lgpd'"):
        policy.jurisdiction("lgpd")


# --- a shop's replacement file ----------------------------------------------------


def test_replacement_file_loads(tmp_path: Path) -> None:
    custom = load_policy(write(tmp_path, REPLACEMENT))
    assert custom.version == "shop-7"
    assert custom.jurisdiction().name == "DSGVO"
    assert [p.key for p in custom.purposes] == ["service", "follow_up"]


def test_replacement_file_gets_default_translation_keys(tmp_path: Path) -> None:
    custom = load_policy(write(tmp_path, REPLACEMENT))
    assert custom.purpose("follow_up").title_key == "purpose.follow_up.title"


def test_replacement_file_reads_holidays_as_dates(tmp_path: Path) -> None:
    custom = load_policy(write(tmp_path, REPLACEMENT))
    assert custom.jurisdiction("gdpr").holidays == {date(2027, 10, 3), date(2027, 12, 25)}


def test_replacement_file_roles_may_grant_nothing(tmp_path: Path) -> None:
    custom = load_policy(write(tmp_path, REPLACEMENT))
    assert custom.roles["auditor"] == frozenset()


def test_replacement_region_code_is_upper_cased(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, REPLACEMENT)).default_phone_region == "DE"


# --- broken files -----------------------------------------------------------------


def test_policy_error_is_a_configuration_error() -> None:
    assert issubclass(PolicyError, ConfigurationError)
    assert issubclass(PolicyError, PrivacyError)


def test_syntax_error_names_line_column_and_key(tmp_path: Path) -> None:
    path = variant(tmp_path, 'respond_within = "40 days"', 'respond_within "40 days"')
    error = load_error(path)
    assert_names(error, path, "jurisdictions.pdpo.respond_within", "invalid TOML at line")
    assert "column" in str(error)


def test_duplicate_key_names_the_key(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'respond_within = "1 month"\n',
        'respond_within = "1 month"\nrespond_within = "2 months"\n',
    )
    assert_names(
        load_error(path), path, "jurisdictions.gdpr.respond_within", "Cannot overwrite a value"
    )


def test_duplicate_table_names_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT_TEXT + '\n[jurisdictions.pdpo]\nname = "again"\n')
    assert_names(load_error(path), path, "jurisdictions.pdpo", "twice")


def test_bad_duration_names_key_and_value(tmp_path: Path) -> None:
    path = variant(tmp_path, 'respond_within = "1 month"', 'respond_within = "soon"')
    assert_names(
        load_error(path),
        path,
        "jurisdictions.gdpr.respond_within",
        "expected a duration like '1 month', '45 days' or '15 working days', got 'soon'",
    )


def test_unquoted_duration_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, 'respond_within = "40 days"', "respond_within = 40")
    assert_names(load_error(path), path, "jurisdictions.pdpo.respond_within", "got 40")


def test_zero_duration_is_rejected(tmp_path: Path) -> None:
    path = variant(
        tmp_path, 'followup_min_interval = "30 days"', 'followup_min_interval = "0 days"'
    )
    assert_names(load_error(path), path, "followup_min_interval", "longer than zero")


def test_unknown_permission_names_role_and_position(tmp_path: Path) -> None:
    path = variant(tmp_path, 'auditor = ["audit.verify"', 'auditor = ["audit.verfy"')
    assert_names(load_error(path), path, "roles.auditor[0]", "unknown permission 'audit.verfy'")


def test_unknown_permission_suggests_the_close_one(tmp_path: Path) -> None:
    path = variant(tmp_path, 'auditor = ["audit.verify"', 'auditor = ["audit.verfy"')
    assert "did you mean 'audit.verify'?" in str(load_error(path))


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'notice_version = "2026-11"\n', "")
    assert_names(load_error(path), path, "notice_version", "required key is missing")


def test_missing_jurisdiction_timezone_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'timezone = "Asia/Shanghai"\n', "")
    assert_names(load_error(path), path, "jurisdictions.pipl.timezone", "required key is missing")


def test_missing_role_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'auditor = ["audit.verify", "audit.tail", "stats.view", "queue.view", "request.view"]\n',
        "",
    )
    assert_names(load_error(path), path, "roles.auditor", "required key is missing")


def test_purpose_referencing_unknown_category_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'categories = ["behaviour", "transaction"]',
        'categories = ["behaviour", "transactions"]',
    )
    assert_names(
        load_error(path),
        path,
        "purposes.analytics.categories[1]",
        "unknown category 'transactions' (did you mean 'transaction'?)",
    )


def test_undefined_default_jurisdiction_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'default_jurisdiction = "pdpo"', 'default_jurisdiction = "lgpd"')
    assert_names(
        load_error(path), path, "default_jurisdiction", "'lgpd' is not a defined jurisdiction"
    )


def test_unknown_followup_purpose_is_named(tmp_path: Path) -> None:
    path = variant(tmp_path, 'followup_purpose = "follow_up"', 'followup_purpose = "newsletter"')
    assert_names(
        load_error(path), path, "followup_purpose", "'newsletter' is not a defined purpose"
    )


def test_followup_purpose_must_be_consent_based(tmp_path: Path) -> None:
    path = variant(tmp_path, 'followup_purpose = "follow_up"', 'followup_purpose = "service"')
    assert_names(load_error(path), path, "followup_purpose", "not consent based")


def test_misspelt_key_is_rejected_with_suggestion(tmp_path: Path) -> None:
    path = variant(tmp_path, 'extension = "2 months"', 'extention = "2 months"')
    assert_names(
        load_error(path),
        path,
        "jurisdictions.gdpr.extention",
        "unknown key (did you mean 'extension'?)",
    )


def test_unknown_category_table_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DEFAULT_TEXT + '\n[categories.health]\nretention = "1 month"\nfields = ["allergies"]\n',
    )
    assert_names(load_error(path), path, "categories.health", "unknown category")


def test_missing_category_table_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        '[categories.preference]\nretention = "24 months"\nfields = ["survey_answers", '
        '"language"]\n',
        "",
    )
    assert_names(load_error(path), path, "categories.preference", "required key is missing")


def test_field_in_two_categories_is_rejected(tmp_path: Path) -> None:
    path = variant(
        tmp_path, 'fields = ["survey_answers", "language"]', 'fields = ["survey_answers", "phone"]'
    )
    assert_names(
        load_error(path),
        path,
        "categories.preference.fields[1]",
        "field 'phone' is already in category 'contact'",
    )


def test_duplicate_list_entry_is_rejected(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'approval_required = ["erasure", "rectification"]',
        'approval_required = ["erasure", "erasure"]',
    )
    assert_names(load_error(path), path, "approval_required[1]", "duplicate entry 'erasure'")


def test_unknown_request_kind_is_rejected(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        'approval_required = ["erasure", "rectification"]',
        'approval_required = ["erasure", "deletion"]',
    )
    assert_names(load_error(path), path, "approval_required[1]", "unknown request kind")


def test_marketing_purpose_must_be_consent_based(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "[purposes.marketing]\nconsent_based = true",
        "[purposes.marketing]\nconsent_based = false",
    )
    assert_names(load_error(path), path, "purposes.marketing.consent_based", "PDPO Part 6A")


def test_sharing_purpose_must_be_consent_based(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "[purposes.third_party_sharing]\nconsent_based = true",
        "[purposes.third_party_sharing]\nconsent_based = false",
    )
    assert_names(
        load_error(path), path, "purposes.third_party_sharing.consent_based", "PIPL Art. 23"
    )


def test_purpose_name_unfit_for_callback_data_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, "[purposes.analytics]", "[purposes.Analytics]")
    assert_names(load_error(path), path, "purposes.Analytics", "lowercase letters")


def test_unknown_time_zone_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, 'timezone = "Europe/Berlin"', 'timezone = "Europe/Bonn"')
    assert_names(load_error(path), path, "jurisdictions.gdpr.timezone", "unknown time zone")


def test_bad_quiet_hours_time_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, 'start = "21:00"', 'start = "9pm"')
    assert_names(load_error(path), path, "quiet_hours.start", "like '21:00', got '9pm'")


def test_bad_holiday_date_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, "holidays = []", 'holidays = ["next monday"]')
    assert_names(load_error(path), path, "jurisdictions.pipl.holidays[0]", "expected a date")


def test_weekday_listed_as_extra_working_day_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, "extra_working_days = []", "extra_working_days = [2026-10-05]")
    assert_names(load_error(path), path, "jurisdictions.pipl.extra_working_days", "is a weekday")


def test_non_boolean_flag_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, "consent_based = false", 'consent_based = "no"')
    assert_names(load_error(path), path, "purposes.service.consent_based", "expected true or false")


def test_rate_limit_below_one_is_rejected(tmp_path: Path) -> None:
    path = variant(tmp_path, "export_rate_limit = 3", "export_rate_limit = 0")
    assert_names(load_error(path), path, "export_rate_limit", "at least 1")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = load_error(path)
    assert str(path) in str(error)
    assert "cannot read the file" in str(error)


def test_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('note = "Datenschutzerklärung"'.encode("latin-1"))
    assert "not UTF-8" in str(load_error(path))


def test_erasures_need_two_approvers_by_default(policy: Policy) -> None:
    assert policy.needs_second_approval("erasure")
    assert not policy.needs_second_approval("rectification")


def test_four_eyes_on_a_kind_that_needs_no_approval_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path, 'second_approval_required = ["erasure"]', 'second_approval_required = ["access"]'
    )
    assert_names(load_error(path), path, "second_approval_required[0]", "needs no approval at all")
