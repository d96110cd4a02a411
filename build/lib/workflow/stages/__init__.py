"""The stages of a round, in order; each a plain function over ids (design §5), idempotent, knowing nothing of
Celery (tasks/pipeline.py wraps them) or of HTTP.

| # | stage    | module                       | function                              |
|---|----------|------------------------------|---------------------------------------|
| 1 | check    | `workflow/stages/check.py`   | `check_round_file`, `parse_round`     |
| 2 | launch   | `workflow/stages/launch.py`  | `launch`                              |
| 3 | render   | `workflow/stages/render.py`  | `render`                              |
| 4 | convert  | `workflow/stages/convert.py` | `convert`                             |
| 5 | prepare  | `workflow/stages/prepare.py` | `prepare`, `open_round`               |
| 6 | accept   | `workflow/stages/accept.py`  | `accept`                              |
| 7 | finalize | `workflow/stages/finalize.py`| `finalize`, `validation_report`       |
| 8 | archive  | `workflow/stages/archive.py` | `archive`, `search_archive`           |
| 9 | verify   | `workflow/stages/verify.py`  | `verify_package`                      |

Every stage looks at what is stored and does nothing when its result is already there, so a retried or
repeated task changes nothing.
"""
