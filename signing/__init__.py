"""Everything pyHanko: signature fields, certification, signers, validation, demo PKI.

Nothing here knows about Celery or the database: functions take bytes and keys and return bytes or reports.
"""

from signing import speedups

speedups.install()
