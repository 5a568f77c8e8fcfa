"""Key rotation: every vault ciphertext re-encrypted under the key ring's first key, in batches, while the
old keys stay in the ring to decrypt what is not rotated yet (so nothing is unreadable at any moment).

An operator puts the new key first in ``SCOPEGATE_ENCRYPTION_KEYS``, restarts, runs ``rotate_keys``, and
removes the old key once it reports that nothing is left under it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import models, transaction

from audit.changes import system_record
from connectors import vault
from connectors.models import Connection, Credential

# Every model holding vault ciphertexts: (model, field). Each model's ``_aad()`` binds its rows.
ENCRYPTED: tuple[tuple[type[models.Model], str], ...] = (
    (Connection, "headers_ciphertext"),
    (Credential, "tokens_ciphertext"),
)


@dataclass
class Rotation:
    key_id: str
    rotated: Counter = field(default_factory=Counter)  # per organization
    current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "Model:pk" that no key of the ring decrypts

    @property
    def total(self) -> int:
        return sum(self.rotated.values())


def _rotate_batch(model, column: str, pks: list[int], rotation: Rotation) -> None:
    with transaction.atomic():
        for row in model.objects.select_for_update().filter(pk__in=pks).order_by("pk"):
            blob = getattr(row, column)
            if not blob:
                continue
            blob = bytes(blob)
            try:
                if vault.key_id_of(blob) == rotation.key_id:
                    rotation.current += 1
                    continue
                plaintext = vault.decrypt(blob, aad=row._aad())
            except vault.VaultError:
                rotation.unreadable.append(f"{model.__name__}:{row.pk}")
                continue
            setattr(row, column, vault.encrypt(plaintext, aad=row._aad()))
            row.save(update_fields=[column])
            rotation.rotated[row.organization_id] += 1


def vault_rotate(*, batch_size: int = 500) -> Rotation:
    """Re-encrypts what is not under the current key; each batch commits on its own (rows stay locked briefly)."""
    rotation = Rotation(key_id=vault.current_key_id())
    for model, column in ENCRYPTED:
        pks = list(model.objects.filter(**{f"{column}__isnull": False}).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), batch_size):
            _rotate_batch(model, column, pks[start : start + batch_size], rotation)
    with transaction.atomic():
        for organization_id, count in sorted(rotation.rotated.items()):
            system_record(
                organization_id=organization_id,
                action="vault.rotate",
                target_type="vault",
                target_id=rotation.key_id,
                detail={"key": rotation.key_id, "rotated": count},
            )
        system_record(
            organization_id=None,
            action="vault.rotate",
            target_type="vault",
            target_id=rotation.key_id,
            detail={
                "key": rotation.key_id,
                "rotated": rotation.total,
                "already_current": rotation.current,
                "unreadable": rotation.unreadable[:100],
            },
        )
    return rotation
