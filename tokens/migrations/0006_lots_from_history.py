"""Every existing account's tokens become lots, without changing any balance or any entry.

Each account's history is replayed in entry order: a purchase becomes a paid lot, a positive
adjustment a promotional one (neither expires); usage and negative adjustments burn lots in the
burn order (free before paid, then oldest first); a usage refund gives back to the lots its
usage took from; a reversal takes from its purchase's lot first and, as reversals took from the
whole balance before lots existed, the rest in the burn order. Every entry gets the allocations
that say so. An account whose lots would not add up to its balance stops the migration.
"""

import uuid

from django.db import migrations

RANK = {"trial": 0, "promotional": 1, "included": 2, "paid": 3}
BATCH = 500


class Replay:
    def __init__(self):
        self.lots = {}
        self.by_source = {}
        self.allocations = []
        self.taken_by_entry = {}

    def credit(self, entry, category, source_type, source_id):
        lot = {
            "id": uuid.uuid4(),
            "category": category,
            "amount": entry.amount,
            "remaining": entry.amount,
            "source_type": source_type,
            "source_id": source_id,
            "credit_id": entry.id,
            "created_at": entry.created_at,
        }
        self.lots[lot["id"]] = lot
        self.by_source[(source_type, source_id)] = lot
        self.allocations.append((entry.id, lot["id"], entry.amount))

    def take(self, entry, amount, first=None):
        taken = []
        order = sorted(
            (lot for lot in self.lots.values() if lot["remaining"] > 0 and lot is not first),
            key=lambda lot: (RANK[lot["category"]], lot["created_at"], lot["id"]),
        )
        for lot in ([first] if first else []) + order:
            if amount == 0:
                break
            part = min(lot["remaining"], amount)
            if part:
                lot["remaining"] -= part
                amount -= part
                taken.append((lot["id"], part))
        if amount:
            raise RuntimeError(f"Entry {entry.id} takes {amount} tokens more than the lots hold.")
        self.taken_by_entry[entry.id] = taken
        self.allocations += [(entry.id, lot_id, -part) for lot_id, part in taken]

    def give_back(self, entry, usage_id):
        for lot_id, part in self.taken_by_entry[uuid.UUID(usage_id)]:
            self.lots[lot_id]["remaining"] += part
            self.allocations.append((entry.id, lot_id, part))


def lots_from_history(apps, schema_editor):
    Account = apps.get_model("tokens", "TokenAccount")
    Entry = apps.get_model("tokens", "TokenTransaction")
    Lot = apps.get_model("tokens", "TokenLot")
    Allocation = apps.get_model("tokens", "TokenAllocation")
    last = None
    while True:
        accounts = Account.objects.order_by("id")
        if last is not None:
            accounts = accounts.filter(id__gt=last)
        batch = list(accounts[:BATCH])
        for account in batch:
            replay = Replay()
            for entry in Entry.objects.filter(account=account).order_by("number").iterator():
                kind = entry.transaction_type
                if kind == "purchase":
                    replay.credit(entry, "paid", entry.reference_type, entry.reference_id)
                elif kind == "adjustment" and entry.amount > 0:
                    replay.credit(entry, "promotional", "adjustment", "")
                elif kind in ("usage", "adjustment"):
                    replay.take(entry, -entry.amount)
                elif kind == "refund":
                    replay.give_back(entry, entry.reference_id)
                elif kind == "reversal":
                    own = replay.by_source.get((entry.reference_type, entry.reference_id))
                    replay.take(entry, -entry.amount, first=own)
                else:
                    raise RuntimeError(f"Entry {entry.id} has an unknown type {kind!r}.")
            held = sum(lot["remaining"] for lot in replay.lots.values())
            if held != account.balance:
                raise RuntimeError(
                    f"Account {account.id}: its lots would hold {held}, its balance is "
                    f"{account.balance}. Run ledger_check and fix the ledger first."
                )
            Lot.objects.bulk_create(
                [Lot(account_id=account.id, **lot) for lot in replay.lots.values()],
                batch_size=5000,
            )
            Allocation.objects.bulk_create(
                [
                    Allocation(entry_id=entry_id, lot_id=lot_id, amount=amount)
                    for entry_id, lot_id, amount in replay.allocations
                ],
                batch_size=5000,
            )
        if len(batch) < BATCH:
            return
        last = batch[-1].id


class Migration(migrations.Migration):
    dependencies = [("tokens", "0005_lot_rules")]

    operations = [migrations.RunPython(lots_from_history, migrations.RunPython.noop)]
