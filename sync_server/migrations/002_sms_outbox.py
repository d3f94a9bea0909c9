"""002: the SMS outbox, and the language a petition was filed in (seed 004's filing SMS).

Every text to a citizen becomes a ``smsoutbox`` row written with its cause and delivered
by ``dcs-server sms``; ``petition.language`` says which language the filing and status SMS
are written in (existing petitions have none: the server's default language is used).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Add ``petition.language`` and create ``smsoutbox``."""
    migrator.add_fields("petition", language=pw.CharField(max_length=8, null=True))

    @migrator.create_model
    class SmsOutbox(pw.Model):
        id = pw.BigAutoField()
        to = pw.CharField(max_length=16)
        sender = pw.CharField(max_length=16)
        template = pw.CharField(max_length=32)
        language = pw.CharField(max_length=8, null=True)
        params = pw.TextField()
        dedupe_key = pw.CharField(max_length=96, null=True, unique=True)
        state = pw.CharField(max_length=16)
        attempts = pw.SmallIntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        expires_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(index=True)
        finished_at = pw.DateTimeField(null=True)
        gateway_id = pw.CharField(max_length=128, null=True)
        last_error = pw.CharField(max_length=200, null=True)

        class Meta:
            table_name = "smsoutbox"
            indexes = [(("state", "next_attempt_at"), False)]
