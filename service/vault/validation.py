"""Validation and cleaning of a subject's personal data fields.

Every error names the field and the rule it broke, never the value: error
messages travel to logs, API responses and audit records (design rule 1).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from service.vault.blind_index import (
    ID_TYPES,
    NormalisationError,
    normalise_id_number,
    normalise_mobile,
)

SUBJECT_FIELDS = ("id_type", "id_number", "mobile", "name", "address")
MAX_NAME_CODE_POINTS = 64
MAX_ADDRESS_CODE_POINTS = 200
MOBILE_COUNTRY_CODES = frozenset({86})
EARLIEST_BIRTH_YEAR = 1900
_PASSPORT = re.compile(r"[A-Za-z0-9-]{5,20}")
_RESIDENT_ID_BODY = re.compile(r"[0-9]{17}")
# Letters would be read as a vanity number ("ABC" -> 222) by phonenumbers.
_PHONE_CHARACTERS = re.compile(r"[0-9+\-().\s]+")
_BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class FieldError(Exception):
    """One field broke one rule; ``code`` is stable for clients, ``reason`` is for people."""

    def __init__(self, field: str, reason: str, code: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class FieldWarning:
    """Something worth a reviewer's look that does not make the value invalid."""

    field: str
    reason: str
    code: str


class ValidationFailed(Exception):
    """One or more fields are invalid; ``errors`` holds every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def load_reference_tables() -> None:
    """Read the tables validation looks numbers up in, now rather than on first use.

    python-stdnum reads its table of administrative divisions (for the
    resident ID's address code) and phonenumbers its mainland China metadata
    the first time a number is checked: about a tenth of a second, paid by
    whichever request a fresh server process happens to take first.
    """
    numdb.get("cn/loc")
    PhoneMetadata.metadata_for_region("CN")


def validate_subject_fields(
    fields: Mapping[str, object],
    *,
    required: Collection[str] = SUBJECT_FIELDS,
    today: datetime.date | None = None,
) -> tuple[dict[str, str], list[FieldWarning]]:
    """Check and clean subject fields; raise ValidationFailed naming every bad field.

    Pass ``required=()`` for a partial update. ``today`` bounds birth dates.
    """
    errors = _presence_errors(fields, required)
    today = today or datetime.date.today()
    cleaned: dict[str, str] = {}
    warnings: list[FieldWarning] = []
    for field in SUBJECT_FIELDS:
        if fields.get(field) is None or any(error.field == field for error in errors):
            continue
        try:
            cleaned[field] = _clean(field, fields[field], cleaned, warnings, today)
        except FieldError as error:
            errors.append(error)
    if errors:
        raise ValidationFailed(errors)
    return cleaned, warnings


def _presence_errors(fields: Mapping[str, object], required: Collection[str]) -> list[FieldError]:
    errors = [
        FieldError(name, "is not a subject field", "unknown_field")
        for name in sorted(set(fields) - set(SUBJECT_FIELDS))
    ]
    errors += [
        FieldError(name, "is required", "required")
        for name in SUBJECT_FIELDS
        if name in required and fields.get(name) is None
    ]
    for field, partner in (("id_type", "id_number"), ("id_number", "id_type")):
        if fields.get(field) is None and fields.get(partner) is not None and field not in required:
            errors.append(FieldError(field, f"is required when {partner} is given", "required"))
    return errors


def _clean(
    field: str,
    value: object,
    cleaned: dict[str, str],
    warnings: list[FieldWarning],
    today: datetime.date,
) -> str:
    if not isinstance(value, str):
        raise FieldError(field, "must be a string", "type")
    if field == "id_type":
        return _clean_id_type(value)
    if field == "id_number":
        if "id_type" not in cleaned:
            raise FieldError(field, "cannot be checked without a valid id_type", "id_type_invalid")
        return _clean_id_number(cleaned["id_type"], value, warnings, today)
    if field == "mobile":
        return _clean_mobile(value)
    limit = MAX_NAME_CODE_POINTS if field == "name" else MAX_ADDRESS_CODE_POINTS
    return _clean_text(field, value, limit)


def _clean_id_type(value: str) -> str:
    if value not in ID_TYPES:
        raise FieldError("id_type", f"must be one of {', '.join(sorted(ID_TYPES))}", "choice")
    return value


def _clean_id_number(
    id_type: str, value: str, warnings: list[FieldWarning], today: datetime.date
) -> str:
    number = normalise_id_number(id_type, value)
    if id_type == "resident_id":
        warnings.extend(_check_resident_id(number, today))
    elif id_type == "passport":
        if not _PASSPORT.fullmatch(number):
            raise FieldError(
                "id_number", "passport number must be 5-20 letters, digits or '-'", "format"
            )
    elif not 5 <= len(number) <= 20 or _has_forbidden_character(number):
        raise FieldError(
            "id_number", f"{id_type} number must be 5-20 printable characters", "format"
        )
    return number


def _check_resident_id(number: str, today: datetime.date) -> list[FieldWarning]:
    """GB 11643 checks; only an unknown address code is a warning, the rest are errors."""
    if len(number) != 18:
        raise FieldError(
            "id_number", f"resident_id must be 18 characters, got {len(number)}", "length"
        )
    if not _RESIDENT_ID_BODY.fullmatch(number[:17]):
        raise FieldError(
            "id_number", "first 17 characters of a resident_id must be digits", "format"
        )
    if number[17] not in "0123456789X":
        raise FieldError("id_number", "check character must be a digit or 'X'", "format")
    expected = ric.calc_check_digit(number)
    if number[17] != expected:
        raise FieldError(
            "id_number", f"check character should be '{expected}', got '{number[17]}'", "checksum"
        )
    _check_birth_date(number, today)
    return _address_code_warnings(number)


def _check_birth_date(number: str, today: datetime.date) -> None:
    try:
        birth_date = ric.get_birth_date(number)
    except InvalidComponent:
        raise FieldError(
            "id_number", "birth date (characters 7-14) is not a real date", "birth_date"
        ) from None
    if birth_date.year < EARLIEST_BIRTH_YEAR:
        raise FieldError("id_number", f"birth date is before {EARLIEST_BIRTH_YEAR}", "birth_date")
    if birth_date > today:
        raise FieldError("id_number", "birth date is in the future", "birth_date")


def _address_code_warnings(number: str) -> list[FieldWarning]:
    # stdnum's table lags behind boundary changes, and a person keeps the
    # number of a county that has since been merged away: so a reviewer
    # should look, but the number must not be refused.
    try:
        ric.get_birth_place(number)
    except InvalidComponent:
        reason = "address code (first 6 digits) is not a known division for the birth year"
        return [FieldWarning("id_number", reason, "unknown_address_code")]
    return []


def _clean_mobile(value: str) -> str:
    if not _PHONE_CHARACTERS.fullmatch(unicodedata.normalize("NFKC", value)):
        raise FieldError(
            "mobile", "may contain only digits, spaces, '+', '-', '(', ')' and '.'", "format"
        )
    try:
        number = phonenumbers.parse(normalise_mobile(value))
    except (NormalisationError, phonenumbers.NumberParseException):
        raise FieldError("mobile", "is not a phone number", "format") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("mobile", "is not a valid phone number", "invalid")
    if number.country_code not in MOBILE_COUNTRY_CODES:
        raise FieldError("mobile", "must be a mainland China (+86) number", "region")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        raise FieldError("mobile", "is not a mobile number", "not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean_text(field: str, value: str, max_code_points: int) -> str:
    # NFC so that the same name typed with combining marks compares equal.
    text = unicodedata.normalize("NFC", value).strip()
    if all(char.isspace() or unicodedata.category(char) == "Cf" for char in text):
        # Empty, or only invisible formatting (a zero-width space) left.
        raise FieldError(field, "must not be blank", "blank")
    if len(text) > max_code_points:
        raise FieldError(
            field, f"must be at most {max_code_points} characters, got {len(text)}", "too_long"
        )
    if _has_forbidden_character(text):
        raise FieldError(field, "must not contain control characters", "control_character")
    return text


def _has_forbidden_character(text: str) -> bool:
    # Bidi overrides can make a stored name display as something else.
    return any(
        unicodedata.category(char) in _FORBIDDEN_CATEGORIES or char in _BIDI_CONTROLS
        for char in text
    )
