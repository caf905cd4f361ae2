import base64
import json
import os
from pathlib import Path

import pytest

from service.vault.crypto import KeyUnwrapError, new_data_key
from service.vault.keyring import (
    KeyEncryptionService,
    Keyring,
    KeyringError,
    UnknownKekVersion,
    generate_keyring_file,
    keyring_from_env_value,
    keyring_from_json,
    load_keyring_file,
    save_keyring_file,
)

KEK_1 = bytes(range(32))
KEK_2 = bytes(range(32, 64))


def keyring_json(current: int = 2) -> str:
    keys = {"1": base64.b64encode(KEK_1).decode(), "2": base64.b64encode(KEK_2).decode()}
    return json.dumps({"current": current, "keys": keys})


def test_the_local_keyring_is_a_key_encryption_service() -> None:
    assert isinstance(Keyring({1: KEK_1}, 1), KeyEncryptionService)


def test_wrap_uses_the_current_version_and_unwrap_reverses_it() -> None:
    keyring, data_key = keyring_from_json(keyring_json()), new_data_key()
    version, wrapped = keyring.wrap(data_key)
    assert version == 2
    assert keyring.unwrap(version, wrapped) == data_key


def test_keys_wrapped_under_an_old_version_still_unwrap() -> None:
    data_key = new_data_key()
    version, wrapped = keyring_from_json(keyring_json(current=1)).wrap(data_key)
    assert keyring_from_json(keyring_json(current=2)).unwrap(version, wrapped) == data_key


def test_rotation_adds_a_new_current_version_and_rewraps_without_changing_the_data_key() -> None:
    keyring, data_key = Keyring({1: KEK_1}, 1), new_data_key()
    old_version, old_wrapped = keyring.wrap(data_key)
    assert keyring.add_version() == 2
    new_version, new_wrapped = keyring.rewrap(old_version, old_wrapped)
    assert new_version == 2
    assert keyring.unwrap(new_version, new_wrapped) == data_key


def test_an_unknown_kek_version_is_named_in_the_error() -> None:
    with pytest.raises(UnknownKekVersion, match="version 5"):
        Keyring({1: KEK_1}, 1).unwrap(5, b"\x00" * 40)


def test_a_key_wrapped_under_another_kek_fails_with_key_unwrap_error() -> None:
    _, wrapped = Keyring({1: KEK_2}, 1).wrap(new_data_key())
    with pytest.raises(KeyUnwrapError, match="version 1"):
        Keyring({1: KEK_1}, 1).unwrap(1, wrapped)


def test_repr_never_shows_key_material() -> None:
    text = repr(keyring_from_json(keyring_json()))
    assert base64.b64encode(KEK_1).decode() not in text
    assert "versions=[1, 2]" in text


def test_an_env_value_with_one_base64_key_is_version_1() -> None:
    keyring = keyring_from_env_value(base64.b64encode(KEK_1).decode())
    assert (keyring.current_version, keyring.versions) == (1, [1])


def test_an_env_value_may_hold_the_full_keyring_json() -> None:
    assert keyring_from_env_value(keyring_json()).versions == [1, 2]


@pytest.mark.parametrize(
    "text",
    [
        "not json {",
        '{"current": 3, "keys": {"1": "' + base64.b64encode(KEK_1).decode() + '"}}',
        '{"current": 1, "keys": {"1": "c2hvcnQ="}}',
        '{"current": 1, "keys": {"1": "!!!"}}',
        '{"keys": {}}',
    ],
    ids=["bad json", "current missing from keys", "short key", "bad base64", "no current"],
)
def test_a_malformed_keyring_is_refused(text: str) -> None:
    with pytest.raises(KeyringError):
        keyring_from_json(text)


def test_a_malformed_env_value_is_refused_without_quoting_it() -> None:
    with pytest.raises(KeyringError) as caught:
        keyring_from_env_value("SECRETVALUE***")
    assert "SECRETVALUE" not in str(caught.value)


def test_a_generated_keyring_file_is_private_and_loads_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    generated = generate_keyring_file(path)
    loaded, warnings = load_keyring_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert warnings == []
    data_key = new_data_key()
    assert loaded.unwrap(*generated.wrap(data_key)) == data_key


def test_generating_never_overwrites_an_existing_keyring(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    generate_keyring_file(path)
    with pytest.raises(KeyringError, match="already exists"):
        generate_keyring_file(path)


def test_a_group_readable_keyring_file_loads_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(keyring_json())
    path.chmod(0o640)
    _, warnings = load_keyring_file(path)
    assert warnings == [f"keyring file {path} has permissions 0640; it should be 0600"]


def test_a_missing_keyring_file_is_a_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="cannot read"):
        load_keyring_file(tmp_path / "absent.json")


def test_a_rotated_keyring_saves_privately_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    keyring = generate_keyring_file(path)
    keyring.add_version()
    save_keyring_file(path, keyring)
    loaded, warnings = load_keyring_file(path)
    assert (loaded.current_version, loaded.versions, warnings) == (2, [1, 2], [])
