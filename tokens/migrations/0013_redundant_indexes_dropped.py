"""Foreign keys lose the index of their own where a composite index leads with the same
column: every debit inserts into one index fewer for its entry, its allocations, the lots it
burns, its usage, and every hold. Dropped by name, so that SQLite does not rebuild the tables
(an AlterField would, and a rebuilt table loses its triggers)."""

import django.db.models.deletion
from django.db import migrations, models

# (model, field, related name, target, table, column, index)
FOREIGN_KEYS = [
    ("hold", "account", "holds", "tokens.tokenaccount", "tokens_hold", "account_id",
     "tokens_hold_account_id_f2eb5a65"),
    ("tokenallocation", "entry", "allocations", "tokens.tokentransaction",
     "tokens_tokenallocation", "entry_id", "tokens_tokenallocation_entry_id_e4315368"),
    ("tokenlot", "account", "lots", "tokens.tokenaccount", "tokens_tokenlot", "account_id",
     "tokens_tokenlot_account_id_d83ba234"),
    ("tokentransaction", "account", "entries", "tokens.tokenaccount", "tokens_tokentransaction",
     "account_id", "tokens_tokentransaction_account_id_9f08fbd4"),
    ("usagerecord", "account", "usage", "tokens.tokenaccount", "tokens_usagerecord",
     "account_id", "tokens_usagerecord_account_id_4a5a69ce"),
]  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("tokens", "0012_hold_functions")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name=name,
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name=related_name,
                        to=target,
                    ),
                )
                for model, name, related_name, target, *_ in FOREIGN_KEYS
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {index}", f"CREATE INDEX {index} ON {table} ({column})"
                )
                for *_, table, column, index in FOREIGN_KEYS
            ],
        )
    ]
