import datetime

import pytest
from stdnum import numdb

from service.vault.validation import (
    FieldError,
    FieldWarning,
    ValidationFailed,
    load_reference_tables,
    validate_subject_fields,
)

TODAY = datetime.date(2025, 6, 1)
WEIGHTS = [2 ** (17 - position) % 11 for position in range(17)]


def resident_id(body: str) -> str:
    """Append the GB 11643 check character to 17 digits (an independent implementation)."""
    check = (
        12 - sum(int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True)) % 11
    ) % 11
    return body + ("X" if check == 10 else str(check))


def wrong_check(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


VALID_ID = resident_id("11010119900307123")  # Beijing Dongcheng, born 1990-03-07


def subject(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "id_type": "resident_id",
        "id_number": VALID_ID,
        "mobile": "138 1234 5678",
        "name": "张三丰",
        "address": "北京市东城区东长安街1号",
    }
    return {**fields, **overrides}


def errors_of(fields: dict[str, object], **options: object) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as caught:
        validate_subject_fields(fields, today=TODAY, **options)  # type: ignore[arg-type]
    return caught.value.errors


def test_the_test_helper_agrees_with_a_published_example() -> None:
    assert resident_id("36042619910101007") == "360426199101010071"


def test_a_valid_subject_is_cleaned_without_warnings() -> None:
    cleaned, warnings = validate_subject_fields(subject(), today=TODAY)
    assert cleaned == {**subject(), "mobile": "+8613812345678"}
    assert warnings == []


def test_a_lower_case_or_full_width_check_character_is_accepted() -> None:
    number = resident_id("11010119900307001")
    typed = number[:-1] + {"X": "ｘ"}.get(number[-1], number[-1])
    cleaned, _ = validate_subject_fields(subject(id_number=" " + typed), today=TODAY)
    assert cleaned["id_number"] == number


def test_a_wrong_check_character_names_the_expected_one() -> None:
    number = resident_id("11010119900307002")
    bad = wrong_check(number)
    [error] = errors_of(subject(id_number=bad))
    assert str(error) == f"id_number: check character should be '{number[-1]}', got '{bad[-1]}'"
    assert error.code == "checksum"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("11010119900230123", "birth date (characters 7-14) is not a real date"),
        ("11010119901301123", "birth date (characters 7-14) is not a real date"),
        ("11010118991231123", "birth date is before 1900"),
        ("11010120250602123", "birth date is in the future"),
    ],
    ids=["february 30", "month 13", "before 1900", "tomorrow"],
)
def test_an_impossible_birth_date_is_an_error(body: str, reason: str) -> None:
    [error] = errors_of(subject(id_number=resident_id(body)))
    assert (error.field, error.reason, error.code) == ("id_number", reason, "birth_date")


def test_an_unknown_address_code_is_only_a_warning() -> None:
    number = resident_id("99010119900307123")
    cleaned, warnings = validate_subject_fields(subject(id_number=number), today=TODAY)
    assert cleaned["id_number"] == number
    assert warnings == [
        FieldWarning(
            "id_number",
            "address code (first 6 digits) is not a known division for the birth year",
            "unknown_address_code",
        )
    ]


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010119900307", "length"),
        ("1101011990030712A3", "format"),
        ("11010119900307123Y", "format"),
    ],
    ids=["too short", "letter in the body", "bad check character"],
)
def test_a_malformed_resident_id_is_an_error(number: str, code: str) -> None:
    [error] = errors_of(subject(id_number=number))
    assert error.code == code


def test_errors_never_quote_the_id_number() -> None:
    bad = wrong_check(VALID_ID)
    [error] = errors_of(subject(id_number=bad))
    assert bad[:17] not in str(error)


@pytest.mark.parametrize("number", ["E12345678", "ab-12345", "G1234"])
def test_a_passport_number_is_5_to_20_letters_digits_or_hyphens(number: str) -> None:
    cleaned, _ = validate_subject_fields(subject(id_type="passport", id_number=number), today=TODAY)
    assert cleaned["id_number"] == number.upper()


@pytest.mark.parametrize("number", ["E123", "E1234567890123456789X", "E1234_5678"])
def test_a_malformed_passport_number_is_an_error(number: str) -> None:
    [error] = errors_of(subject(id_type="passport", id_number=number))
    assert error.reason == "passport number must be 5-20 letters, digits or '-'"


def test_a_permit_number_is_free_form_within_5_to_20_characters() -> None:
    cleaned, _ = validate_subject_fields(
        subject(id_type="hk_macau_permit", id_number="H1234567(8)"), today=TODAY
    )
    assert cleaned["id_number"] == "H1234567(8)"


def test_an_unknown_id_type_is_an_error_and_the_number_is_not_checked() -> None:
    errors = errors_of(subject(id_type="driving_licence"))
    assert [(error.field, error.code) for error in errors] == [
        ("id_type", "choice"),
        ("id_number", "id_type_invalid"),
    ]


@pytest.mark.parametrize(
    ("mobile", "code"),
    [
        ("1381234567", "invalid"),
        ("23812345678", "invalid"),
        ("010 6512 3456", "not_mobile"),
        ("+44 7400 123456", "region"),
        ("138abcd5678", "format"),
        ("call me", "format"),
    ],
    ids=["too short", "bad prefix", "beijing landline", "uk mobile", "letters", "words"],
)
def test_a_bad_mobile_is_an_error(mobile: str, code: str) -> None:
    [error] = errors_of(subject(mobile=mobile))
    assert (error.field, error.code) == ("mobile", code)


def test_a_name_with_a_four_byte_character_is_accepted() -> None:
    cleaned, _ = validate_subject_fields(subject(name="𠮷野家"), today=TODAY)
    assert cleaned["name"] == "𠮷野家"


def test_a_name_of_64_code_points_outside_the_bmp_is_accepted_and_65_is_not() -> None:
    validate_subject_fields(subject(name="𠮷" * 64), today=TODAY)
    [error] = errors_of(subject(name="𠮷" * 65))
    assert str(error) == "name: must be at most 64 characters, got 65"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("   ", "blank"),
        ("张\x00三", "control_character"),
        ("abc\u202edcba", "control_character"),
        ("\ud842", "control_character"),
    ],
    ids=["blank", "nul", "bidi override", "lone surrogate"],
)
def test_a_bad_name_is_an_error(name: str, code: str) -> None:
    [error] = errors_of(subject(name=name))
    assert (error.field, error.code) == ("name", code)


def test_an_address_longer_than_200_code_points_is_an_error() -> None:
    [error] = errors_of(subject(address="路" * 201))
    assert error.code == "too_long"


def test_every_bad_field_is_named_at_once() -> None:
    errors = errors_of(subject(name="", mobile="123", address=42, nickname="x"))
    assert {error.field for error in errors} == {"nickname", "mobile", "name", "address"}


def test_missing_required_fields_are_errors() -> None:
    errors = errors_of({"name": "李四"})
    assert {(error.field, error.code) for error in errors} == {
        ("id_type", "required"),
        ("id_number", "required"),
        ("mobile", "required"),
        ("address", "required"),
    }


def test_a_partial_update_checks_only_the_fields_given() -> None:
    cleaned, _ = validate_subject_fields({"mobile": "13812345678"}, required=(), today=TODAY)
    assert cleaned == {"mobile": "+8613812345678"}


def test_an_id_number_without_its_id_type_is_an_error_even_in_an_update() -> None:
    errors = errors_of({"id_number": VALID_ID}, required=())
    assert ("id_type", "required") in {(error.field, error.code) for error in errors}


def test_the_lookup_tables_are_read_up_front_not_by_the_first_request(monkeypatch) -> None:
    # python-stdnum caches each table it reads in this dict; start it empty.
    monkeypatch.setattr(numdb, "_open_databases", {})
    load_reference_tables()
    assert "cn/loc" in numdb._open_databases
