"""File store, certificates, keyring retirement and reloading: the vault's small parts."""

from __future__ import annotations

import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.vault import certificates
from service.vault.filestore import LocalFileStore
from service.vault.keyring import KeyringError, generate_keyring_file, save_keyring_file
from service.vault.keys import ReloadingKeyring


def test_file_store_round_trips_and_deleting_twice_is_harmless(tmp_path):
    store = LocalFileStore(tmp_path)
    store.put("abcdef0123456789", b"ciphertext")
    assert store.get("abcdef0123456789") == b"ciphertext"
    assert os.stat(tmp_path / "ab" / "abcdef0123456789").st_mode & 0o077 == 0
    assert store.delete("abcdef0123456789") is True
    assert store.delete("abcdef0123456789") is False


@pytest.mark.parametrize("key", ["../../etc/passwd", "short", "UPPERCASE-KEY-123", "a/b/c/d/e/f/g"])
def test_file_store_refuses_keys_that_could_leave_its_directory(tmp_path, key):
    with pytest.raises(ValueError, match="storage key"):
        LocalFileStore(tmp_path).put(key, b"x")


def test_a_certificate_verifies_and_any_change_breaks_it():
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = certificates.canonical({"subject": "sub_1", "destroyed": {"fields": ["name"]}})
    signature = key.sign(body.encode())
    assert certificates.verify(body, signature, public)
    assert not certificates.verify(body.replace("name", "mobile"), signature, public)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert not certificates.verify(body, signature, other)


def test_canonical_certificate_bodies_do_not_depend_on_key_order():
    assert certificates.canonical({"b": 1, "a": 2}) == certificates.canonical({"a": 2, "b": 1})


def test_the_current_kek_version_cannot_be_retired(tmp_path):
    keyring = generate_keyring_file(tmp_path / "keyring.json")
    keyring.add_version()
    assert keyring.without_version(1).versions == [2]
    with pytest.raises(KeyringError, match="rotate before retiring"):
        keyring.without_version(2)


def test_a_running_process_sees_a_rotation_made_by_another(tmp_path):
    path = tmp_path / "keyring.json"
    generate_keyring_file(path)
    seen = ReloadingKeyring(path)
    assert seen.current_version == 1
    rotated = generate_keyring_file(tmp_path / "other.json")
    rotated = type(rotated)({1: seen.keyring._kek(1), 2: os.urandom(32)}, 2)
    time.sleep(0.01)
    save_keyring_file(path, rotated)
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert seen.current_version == 2
    version, wrapped = seen.wrap(os.urandom(32))
    assert version == 2 and len(seen.unwrap(2, wrapped)) == 32
