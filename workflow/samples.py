"""Synthetic rounds of any size (2..63 units), built from the Cụm 4 example, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workflow.stages.check import parse_round

PROVINCES = [
    "Hà Giang",
    "Cao Bằng",
    "Bắc Kạn",
    "Tuyên Quang",
    "Lào Cai",
    "Điện Biên",
    "Lai Châu",
    "Sơn La",
    "Yên Bái",
    "Hòa Bình",
    "Thái Nguyên",
    "Lạng Sơn",
    "Quảng Ninh",
    "Bắc Giang",
    "Phú Thọ",
    "Vĩnh Phúc",
    "Bắc Ninh",
    "Hải Dương",
    "Hưng Yên",
    "Thái Bình",
    "Hà Nam",
    "Nam Định",
    "Ninh Bình",
    "Thanh Hóa",
    "Nghệ An",
    "Hà Tĩnh",
    "Quảng Bình",
    "Quảng Trị",
    "Thừa Thiên Huế",
    "Quảng Nam",
    "Quảng Ngãi",
    "Bình Định",
    "Phú Yên",
    "Khánh Hòa",
    "Ninh Thuận",
    "Bình Thuận",
    "Kon Tum",
    "Gia Lai",
    "Đắk Lắk",
    "Đắk Nông",
    "Lâm Đồng",
    "Bình Phước",
    "Tây Ninh",
    "Bình Dương",
    "Đồng Nai",
    "Bà Rịa - Vũng Tàu",
    "Long An",
    "Tiền Giang",
    "Bến Tre",
    "Trà Vinh",
    "Vĩnh Long",
    "Đồng Tháp",
    "An Giang",
    "Kiên Giang",
    "Hậu Giang",
    "Sóc Trăng",
    "Bạc Liêu",
    "Cà Mau",
    "Cần Thơ",
    "Đà Nẵng",
    "Hải Phòng",
    "Hà Nội",
    "Hồ Chí Minh",
]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
GIVEN = [
    "Văn An",
    "Thị Bình",
    "Đức Cường",
    "Ngọc Diệp",
    "Minh Đức",
    "Thu Hà",
    "Quang Huy",
    "Thanh Hương",
    "Trọng Khải",
    "Thị Lan",
    "Hữu Nghĩa",
    "Phương Thảo",
    "Xuân Trường",
    "Bảo Ngọc",
    "Đình Phúc",
]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"  # bundled with the package


def synthetic_round(units: int, base: Path | None = None) -> str:
    """Round-file text for `units` units (the first is the chair, the second the vice-chair; every third
    signer is a deputy signing on behalf of the head). Leaders only: the units have no clerks (no seals, no
    issuance), so benchmarks compare with their earlier figures."""
    if not 2 <= units <= len(PROVINCES):
        raise ValueError(f"units must be between 2 and {len(PROVINCES)}")
    base = base or EXAMPLES_DIR / "cum-4-2024.yaml"
    data: dict[str, Any] = yaml.safe_load(base.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = []
    for i, province in enumerate(PROVINCES[:units]):
        from signing.names import slugify

        kind = "thành phố" if province in ("Cần Thơ", "Đà Nẵng", "Hải Phòng", "Hà Nội", "Hồ Chí Minh") else "tỉnh"
        deputy = i % 3 == 2
        rows.append(
            {
                "id": slugify(province),
                "name": f"Viện kiểm sát nhân dân {kind} {province}",
                "short_name": f"VKSND {kind} {province}",
                "place": province,
                "role": "chair" if i == 0 else "vice_chair" if i == 1 else "member",
                "signer": {
                    "name": f"{SURNAMES[i % len(SURNAMES)]} {GIVEN[(i * 7) % len(GIVEN)]}",
                    "title": "Phó Viện trưởng" if deputy else "Viện trưởng",
                    **({"on_behalf_of": "Viện trưởng"} if deputy else {}),
                    "email": f"vien-{slugify(province)}@example.vn",
                },
            }
        )
    data["units"] = rows
    # leaders only, as the benchmarks have always measured them: no clerks, so no seals and no issuance
    data["signing"].pop("seals", None)
    chair, vice = rows[0], rows[1]
    conf = data["conference"]
    conf["chair"] = {"unit": chair["id"], "name": chair["signer"]["name"], "title": chair["signer"]["title"]}
    conf["secretary"] = {"unit": chair["id"], "name": "Hoàng Thùy", "title": "Phó Chánh Văn phòng"}
    conf["attendees"] = [
        {"unit": u["id"], "name": u["signer"]["name"], "title": u["signer"]["title"]} for u in rows[1:]
    ]
    conf["elections"] = {"chair": chair["id"], "vice_chair": vice["id"]}
    conf["place"] = f"Hội trường {chair['name']}"
    data["cluster"]["name"] = f"Cụm thi đua {units} đơn vị"
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)
    parse_round(text, f"synthetic-{units}")  # a sample must itself be a valid round
    return text
