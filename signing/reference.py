"""The reference for every judgement of a signed revision: pyHanko's own difference analysis (`StandardDiffPolicy`,
which compares every later revision with each signature's revision), configured for what honest signing tools write.

The chain rule (signing/revisions.py) must refuse at least everything this policy refuses; the forgery corpus in
tests/test_forgery_corpus.py checks it, and `covenant archive verify --pairwise` validates with this policy.

It is pyHanko's `DEFAULT_DIFF_POLICY` with two allowances, each through one of pyHanko's own options:

1. `/M` on the field being signed (`value_update_keys`): the annotation's "last modified" date (ISO 32000-1,
   table 164), which poppler's `pdfsig -sign` sets on the widget it fills. A date on the signer's own widget
   changes nothing an earlier signer signed and nothing the document shows.
2. A new visible signature field after the certification (`allow_new_visible_after_certify`), which several
   signing tools create instead of filling the prepared field. pyHanko lets such a field be added with its
   signature; the chain rule narrows it to a widget inside an empty prepared field's block, on its page, and the
   acceptance to that block's signer (signing/revisions.py `_host`).
"""

from __future__ import annotations

from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    FormUpdatingRule,
    GenericFieldModificationRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
)
from pyhanko.sign.diff_analysis.constants import VALUE_UPDATE_KEYS

SIGNER_MAY_SET = VALUE_UPDATE_KEYS | {"/M"}

REFERENCE_POLICY = StandardDiffPolicy(
    global_rules=DEFAULT_DIFF_POLICY.global_rules,
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(allow_new_visible_after_certify=True),
            SigFieldModificationRule(value_update_keys=SIGNER_MAY_SET),
            GenericFieldModificationRule(),
        ],
    ),
)
