import pytest

from service.vault.blind_index import (
    NormalisationError,
    blind_index,
    id_number_kind,
    normalise_id_number,
    normalise_mobile,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_id_numbers_lose_spaces_and_get_an_upper_case_check_character() -> None:
    assert normalise_id_number("resident_id", " 110101 19900307 123x ") == "11010119900307123X"


def test_full_width_digits_and_ideographic_spaces_become_ascii() -> None:
    assert (
        normalise_id_number("resident_id", "１１０１０１\u300019900307123Ｘ")
        == "11010119900307123X"
    )


def test_an_unknown_id_type_is_refused() -> None:
    with pytest.raises(NormalisationError):
        normalise_id_number("driving_licence", "123")


@pytest.mark.parametrize(
    "typed", ["13812345678", "138 1234 5678", "+86 138-1234-5678", "１３８１２３４５６７８"]
)
def test_mobiles_normalise_to_e164(typed: str) -> None:
    assert normalise_mobile(typed) == "+8613812345678"


def test_a_value_that_is_not_a_phone_number_is_refused_without_quoting_it() -> None:
    with pytest.raises(NormalisationError) as caught:
        normalise_mobile("hello there")
    assert "hello" not in str(caught.value)


def test_the_index_is_deterministic_hex_sha256() -> None:
    first = blind_index(KEY, "mobile", "+8613812345678")
    assert first == blind_index(KEY, "mobile", "+8613812345678")
    assert len(first) == 64 and int(first, 16) >= 0


def test_different_keys_give_different_indexes() -> None:
    assert blind_index(KEY, "mobile", "+8613812345678") != blind_index(
        OTHER_KEY, "mobile", "+8613812345678"
    )


def test_kinds_are_domain_separated() -> None:
    digits = "13812345678"
    assert blind_index(KEY, "mobile", digits) != blind_index(
        KEY, id_number_kind("passport"), digits
    )
    assert blind_index(KEY, "id_number:passport", digits) != blind_index(
        KEY, "id_number:other", digits
    )


def test_the_same_number_typed_two_ways_has_one_index() -> None:
    typed_once = normalise_id_number("resident_id", "11010119900307123x")
    typed_again = normalise_id_number("resident_id", "１１０１０１１９９００３０７１２３Ｘ")
    kind = id_number_kind("resident_id")
    assert blind_index(KEY, kind, typed_once) == blind_index(KEY, kind, typed_again)


def test_an_unknown_kind_or_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        blind_index(KEY, "email", "a@example.com")
    with pytest.raises(ValueError, match="32 bytes"):
        blind_index(b"short", "mobile", "+8613812345678")
