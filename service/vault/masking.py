"""Masked display of personal data, for people who may see that a value
exists but not the value itself (task lists, review screens, audit viewers).

Python strings index by code point, so a character outside the BMP such as
"𠮷" (U+20BB7) is one unit here and is never split into surrogate halves.
Input is NFC-normalised first so that an accent typed as a combining mark
stays with its letter.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from types import MappingProxyType

import phonenumbers

FULL_MASK = "******"
_LATIN_WORD_MASK = "***"
_ADDRESS_TAIL_MASK = "****"
# County-level markers: an address is kept up to the first one of these.
_DISTRICT_MARKERS = "区县旗"
_DISTRICT_SEARCH_LIMIT = 12
_ADDRESS_HEAD = 6
# Two-character Chinese surnames that a masked name should keep whole.
_COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "令狐",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "澹台",
        "呼延",
        "申屠",
        "太史",
        "万俟",
        "闻人",
        "赫连",
        "东郭",
        "百里",
        "钟离",
    }
)


def mask_mobile(value: str) -> str:
    """Show the first 3 and last 4 digits of the national number: "138****5678"."""
    digits = _national_digits(value)
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str) -> str:
    """Show the first 6 and last 4 characters of long IDs: "110101********1234".

    Shorter IDs (passports, permits) show only 2 and 2, so that most of the
    number stays hidden; very short ones are masked whole.
    """
    text = "".join(unicodedata.normalize("NFKC", value).split())
    if len(text) >= 15:
        return _keep_ends(text, 6, 4)
    if len(text) >= 8:
        return _keep_ends(text, 2, 2)
    return "*" * len(text)


def mask_name(value: str) -> str:
    """Keep the family name of Chinese-style names ("张**"), initials of others ("Z*** S***").

    For space-separated names the family name may be first or last, so only
    the initial of each word is shown.
    """
    name = unicodedata.normalize("NFC", value).strip()
    words = name.split()
    if len(words) > 1:
        return " ".join(word[0] + _LATIN_WORD_MASK for word in words)
    if not name:
        return ""
    if not _is_wide(name[0]):
        return name[0] + _LATIN_WORD_MASK
    surname = _surname_length(name)
    return name[:surname] + "*" * (len(name) - surname)


def mask_address(value: str) -> str:
    """Keep the address up to the district (or its first 6 characters), mask the rest."""
    address = unicodedata.normalize("NFC", value).strip()
    keep = _district_end(address) or min(_ADDRESS_HEAD, len(address) // 2)
    if keep >= len(address):
        keep = len(address) // 2
    return address[:keep] + _ADDRESS_TAIL_MASK if address else ""


FIELD_MASKS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {
        "name": mask_name,
        "id_number": mask_id_number,
        "mobile": mask_mobile,
        "address": mask_address,
    }
)


def mask_value(field: str, value: str) -> str:
    """Mask a value by its field name; fields without a rule are masked whole."""
    masker = FIELD_MASKS.get(field)
    return masker(value) if masker else FULL_MASK


def _keep_ends(text: str, head: int, tail: int) -> str:
    return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]


def _national_digits(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    if text.startswith("+"):
        try:
            number = phonenumbers.parse(text, None)
            return phonenumbers.national_significant_number(number)
        except phonenumbers.NumberParseException:
            pass  # fall through: mask whatever digits there are
    return "".join(ch for ch in text if ch.isdigit())


def _is_wide(char: str) -> bool:
    # CJK ideographs (including the supplementary planes) are East Asian Wide.
    return unicodedata.east_asian_width(char) in ("W", "F")


def _surname_length(name: str) -> int:
    if len(name) <= 1:
        return 0  # a lone character could be the whole name; hide it
    if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1


def _district_end(address: str) -> int:
    for index, char in enumerate(address[:_DISTRICT_SEARCH_LIMIT]):
        if char in _DISTRICT_MARKERS:
            return index + 1
    return 0
