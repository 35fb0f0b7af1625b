"""Signatures: RSASSA-PKCS1-v1_5 with SHA-256 over the raw message, for checkpoints
(the signer's key) and for log entries (the writer's entry key).

Why this scheme: KMS signs it identically in AWS and in moto, and anyone verifies it
offline with the public key (moto's RSA-PSS salt length and its MessageType=DIGEST
handling differ from AWS). KMS takes a RAW message of at most
4096 bytes; a checkpoint body is a few hundred.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mlaudit.integrity.primitives.records import ENTRY_KEY_ID, ENTRY_SIGNATURE, SIGNATURE_ALGORITHM, entry_message

MAX_MESSAGE_BYTES = 4096


class Signer(Protocol):
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


class KmsSigner:
    """An RSA SIGN_VERIFY key in KMS: the checkpoint key (only the checkpoint function may
    use it) or the log-entry key (only the writer may)."""

    def __init__(self, client: Any, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def sign(self, message: bytes) -> bytes:
        if len(message) >= MAX_MESSAGE_BYTES:
            raise ValueError("message too long for a RAW KMS signature")
        answer = self.client.sign(
            KeyId=self.key_id,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm=SIGNATURE_ALGORITHM,
        )
        return answer["Signature"]


class LocalSigner:
    """An in-process RSA key: tests and offline tooling."""

    def __init__(self, private_key: rsa.RSAPrivateKey, key_id: str = "local") -> None:
        self.private_key = private_key
        self.key_id = key_id

    @classmethod
    def generate(cls, key_id: str = "local", bits: int = 2048) -> LocalSigner:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits), key_id)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def public_key_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def kms_public_key_pem(client: Any, key_id: str) -> bytes:
    """KMS GetPublicKey answers DER SubjectPublicKeyInfo; verifiers keep it as PEM."""
    der = client.get_public_key(KeyId=key_id)["PublicKey"]
    key = serialization.load_der_public_key(der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes) -> rsa.RSAPublicKey:
    key = (
        serialization.load_pem_public_key(data)
        if data.lstrip().startswith(b"-----")
        else serialization.load_der_public_key(data)
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("mlaudit's signing keys are RSA")
    return key


def verify_signature(public_key: rsa.RSAPublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def entry_authentic(public_key: rsa.RSAPublicKey, entry: dict[str, Any]) -> bool:
    """Was this log entry signed with the entry key? (Index and prev are covered.)"""
    text = entry.get(ENTRY_SIGNATURE)
    if not isinstance(text, str) or not isinstance(entry.get(ENTRY_KEY_ID), str):
        return False
    try:
        signature = base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return verify_signature(public_key, entry_message(entry), signature)
