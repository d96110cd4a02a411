"""Everything pyHanko: signature fields, certification, signers, validation, demo PKI.

Nothing here knows about Celery or the database: functions take bytes and keys and return bytes or reports.
The patches to pyHanko's internals (signing/patches.py) are installed by the entry points, not by this import.
"""

import warnings

# pyHanko 0.38 imports cryptography's DSA key type at import time; cryptography 51 deprecates DSA and warns on that
# import. Nothing here uses DSA and a user cannot act on it, so the warning is kept out of every command's output
# (only this one warning, only from pyHanko's modules).
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko(\.|$)")
