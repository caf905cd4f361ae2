"""Keyed blind index for looking subjects up by ID number or mobile number.

The index is HMAC-SHA256 under a dedicated blind-index key (not a data key,
not a KEK), so a database dump alone does not let anyone test guesses: the ID
number space is small enough to brute-force a plain hash. Values are
normalised first so that the same number typed two ways finds the same row.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import unicodedata

import phonenumbers

ID_TYPES = frozenset({"resident_id", "passport", "hk_macau_permit", "taiwan_permit", "other"})
MOBILE_KIND = "mobile"
KINDS = frozenset({MOBILE_KIND} | {f"id_number:{id_type}" for id_type in ID_TYPES})
MIN_KEY_BYTES = 32
_LABEL = b"datasteward.vault.blind-index.v1\x00"


class NormalisationError(ValueError):
    """A value cannot be put in canonical form (the message never quotes it)."""


def id_number_kind(id_type: str) -> str:
    """Return the blind-index kind for an ID type, e.g. "id_number:resident_id"."""
    if id_type not in ID_TYPES:
        raise NormalisationError(f"unknown id_type; expected one of {sorted(ID_TYPES)}")
    return f"id_number:{id_type}"


def normalise_id_number(id_type: str, value: str) -> str:
    """Canonical ID number: full-width forms to ASCII, no whitespace, upper case.

    NFKC folds full-width digits and letters (U+FF10..U+FF5A, as typed by
    Chinese input methods) and the ideographic space to ASCII. Upper-casing
    makes the resident ID check character 'x' and 'X' the same, and passport
    numbers case-insensitive.
    """
    id_number_kind(id_type)  # rejects unknown types before any work
    folded = unicodedata.normalize("NFKC", value)
    return "".join(folded.split()).upper()


def normalise_mobile(value: str) -> str:
    """Canonical mobile number in E.164; numbers without a country code are read as China."""
    folded = unicodedata.normalize("NFKC", value).strip()
    try:
        number = phonenumbers.parse(folded, "CN")
    except phonenumbers.NumberParseException:
        raise NormalisationError("mobile: not a phone number") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def blind_index(key: bytes, kind: str, normalised: str) -> str:
    """HMAC-SHA256 of a normalised value, domain-separated by kind; lowercase hex."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"blind-index key must be at least {MIN_KEY_BYTES} bytes")
    if kind not in KINDS:
        raise ValueError(f"unknown blind-index kind {kind!r}; expected one of {sorted(KINDS)}")
    # The kind is length-prefixed so ("a", "bc") and ("ab", "c") never collide,
    # and a mobile number can never match an ID number with the same digits.
    encoded_kind = kind.encode("utf-8")
    message = (
        _LABEL + struct.pack(">I", len(encoded_kind)) + encoded_kind + normalised.encode("utf-8")
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()
