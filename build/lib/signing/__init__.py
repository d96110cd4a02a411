"""Everything pyHanko: signature fields, certification, signers, validation, demo PKI.

Nothing here knows about Celery or the database: functions take bytes and keys and return bytes or reports.
The patches to pyHanko's internals (signing/patches.py) are installed by the entry points, not by this import.
"""
