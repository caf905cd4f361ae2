import pytest

from service.vault.masking import (
    FIELD_MASKS,
    FULL_MASK,
    mask_address,
    mask_id_number,
    mask_mobile,
    mask_name,
    mask_value,
)


@pytest.mark.parametrize("mobile", ["13812345678", "+8613812345678", "138 1234 5678"])
def test_a_mobile_shows_its_first_3_and_last_4_digits(mobile: str) -> None:
    assert mask_mobile(mobile) == "138****5678"


def test_a_too_short_number_is_masked_whole() -> None:
    assert mask_mobile("12345") == "*****"


def test_a_resident_id_shows_its_first_6_and_last_4_characters() -> None:
    assert mask_id_number("110101199003071234") == "110101********1234"


def test_a_short_passport_number_shows_only_2_and_2() -> None:
    assert mask_id_number("E12345678") == "E1*****78"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张**"),
        ("李四", "李*"),
        ("欧阳娜娜", "欧阳**"),
        ("𠮷野家", "𠮷**"),
        ("张", "*"),
        ("Zhang San", "Z*** S***"),
        ("Zhang", "Z***"),
        ("", ""),
    ],
)
def test_a_name_keeps_only_the_family_name_or_initials(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_characters_outside_the_bmp_are_masked_whole_never_as_surrogate_halves() -> None:
    masked = mask_name("王𠮷𠮷")
    assert masked == "王**"
    masked.encode("utf-8")  # a lone surrogate would make this raise


def test_an_address_keeps_up_to_its_district() -> None:
    assert mask_address("北京市朝阳区建国路88号3单元") == "北京市朝阳区****"


def test_an_address_without_a_district_keeps_its_first_6_characters() -> None:
    assert mask_address("Room 5, 88 Jianguo Road") == "Room 5****"


def test_a_short_address_never_shows_in_full() -> None:
    assert mask_address("朝阳区") == "朝****"


@pytest.mark.parametrize("field", ["name", "id_number", "mobile", "address"])
def test_every_known_field_has_a_mask(field: str) -> None:
    assert mask_value(field, "110101199003071234") == FIELD_MASKS[field]("110101199003071234")


def test_an_unknown_field_is_masked_whole() -> None:
    assert mask_value("favourite_colour", "blue") == FULL_MASK == "******"
