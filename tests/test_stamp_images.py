"""Signature and seal images in the stamp (design §7): named in the round file, checked, carried to the stamp."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageDraw

from tests.conftest import ARTIFACTS, EXAMPLES, copy_example_files, run_covenant

pytestmark = pytest.mark.live


def _seal(path: Path) -> None:
    img = Image.new("RGBA", (300, 300), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 10, 290, 290), outline=(220, 20, 20, 255), width=14)
    draw.ellipse((60, 60, 240, 240), outline=(220, 20, 20, 255), width=6)
    draw.regular_polygon((150, 150, 50), 5, fill=(220, 20, 20, 255))
    img.save(path)


def _signature(path: Path) -> None:
    img = Image.new("RGBA", (400, 160), (255, 255, 255, 0))
    ImageDraw.Draw(img).line(
        [(20, 120), (90, 30), (150, 130), (230, 40), (300, 120), (380, 60)], fill=(20, 40, 160, 255), width=8
    )
    img.save(path)


def _round_with_images(folder: Path, seal: str = "seal.png", signature: str = "chu-ky.png") -> Path:
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["units"][0]["seal_image"] = seal
    spec["units"][0]["signer"]["signature_image"] = signature
    spec["signing"]["seals"] = False  # the seal in the leader's own stamp, as before organisation signatures
    for unit in spec["units"][1:]:
        unit.pop("seal_image", None)  # the other units: no images at all
    path = folder / "round.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(folder)
    return path


def test_round_check_names_a_bad_image(tmp_path: Path) -> None:
    _signature(tmp_path / "chu-ky.png")
    Image.new("RGB", (50, 50), (200, 0, 0)).save(tmp_path / "seal.jpg")
    proc = run_covenant("round", "check", str(_round_with_images(tmp_path, seal="seal.jpg")))
    assert proc.returncode == 2 and "units[0].seal_image" in proc.stderr and "must be PNG" in proc.stderr, proc.stderr
    proc = run_covenant("round", "check", str(_round_with_images(tmp_path, seal="khong-co.png")))
    assert proc.returncode == 2 and "no image file" in proc.stderr and "Traceback" not in proc.stderr


def _red_share(png: bytes) -> float:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(img.get_flattened_data()) if hasattr(img, "get_flattened_data") else list(img.getdata())
    red = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90)
    return red / len(pixels)


def test_the_stamp_carries_the_seal_and_signature(tmp_path: Path) -> None:
    _seal(tmp_path / "seal.png")
    _signature(tmp_path / "chu-ky.png")
    round_file = _round_with_images(tmp_path)
    env = {"COVENANT_DATA_DIR": str(tmp_path / "data")}
    assert run_covenant("round", "check", str(round_file)).returncode == 0
    made = run_covenant("pki", "demo", str(tmp_path / "data" / "pki"), "--round", str(round_file), env=env)
    assert made.returncode == 0, made.stderr
    launched = run_covenant("round", "launch", str(round_file), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    round_id = json.loads(launched.stdout)["round_id"]
    index = json.loads((tmp_path / "data" / "pki" / "index.json").read_text(encoding="utf-8"))
    pki = tmp_path / "data" / "pki"
    for field, key in [("unit-phu-tho", "phu-tho--do-dinh-chu"), ("unit-bac-giang", "bac-giang--nguyen-truong-tho")]:
        entry = index["people"][key]
        proc = run_covenant(
            "sign",
            round_id,
            "--field",
            field,
            "--p12",
            str(pki / entry["p12"]),
            "--passphrase-file",
            str(pki / entry["passphrase_file"]),
            env=env,
        )
        assert proc.returncode == 0, proc.stderr

    from signing.fields import read_anchors
    from workflow.config import settings_from_env
    from workflow.context import Ctx
    from workflow.documents import anchor_name
    from workflow.storage import DocumentRow

    ctx = Ctx(settings_from_env(env))
    with ctx.session() as s:
        doc = s.query(DocumentRow).filter_by(round_id=round_id, kind="covenant").one()
        pdf = ctx.blobs.get(doc.current or "")
        position = {sl.field_name: sl.position for sl in doc.slots}
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout
    blocks = [b for b in out.split("Signature #")[1:] if "Signature Validation:" in b]
    assert len(blocks) == 3 and all("Signature is Valid." in b for b in blocks), out
    assert (
        "Ký bởi: Đỗ Đình Chữ" in subprocess.run(["pdftotext", str(signed), "-"], capture_output=True, text=True).stdout
    )

    # Look at the two stamps: Phú Thọ's carries the red seal, Bắc Giang's (no images) only its text, no frame.
    anchors = read_anchors(pdf)
    with_images, without = anchor_name(position["unit-phu-tho"]), anchor_name(position["unit-bac-giang"])
    page = anchors[with_images + "a"].page
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "100",
            "-png",
            "-f",
            str(page + 1),
            "-l",
            str(page + 1),
            str(signed),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    image = Image.open(next(tmp_path.glob("page*.png")))
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / "stamp-with-seal-and-signature.png")
    scale = 100 / 72

    def crop(anchor: str, inset: int = 0) -> bytes:
        top, name = anchors[anchor + "a"], anchors[anchor + "b"]
        box = (
            top.x * scale + inset,
            image.height - top.y * scale + inset,
            (top.x + 200) * scale - inset,
            image.height - name.y * scale - inset,
        )
        buffer = io.BytesIO()
        image.crop(tuple(round(v) for v in box)).save(buffer, "PNG")
        return buffer.getvalue()

    assert _red_share(crop(with_images)) > 0.01  # the seal's ink
    assert _red_share(crop(without)) < 0.001  # black text only: no red frame around the field is printed


@pytest.mark.parametrize("side", [5000, 15000], ids=["over our limit", "a Pillow decompression bomb"])
def test_png_decompression_bomb_is_a_clear_error(tmp_path: Path, side: int) -> None:
    """A tiny PNG of a huge blank image: refused with the image named, before it is decoded, never a traceback."""
    _signature(tmp_path / "chu-ky.png")
    Image.new("1", (side, side)).save(tmp_path / "seal.png", optimize=True)
    assert (tmp_path / "seal.png").stat().st_size < 2 * 1024 * 1024
    proc = run_covenant("round", "check", str(_round_with_images(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert "units[0].seal_image" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "pixels" in proc.stderr or "decompression bomb" in proc.stderr.lower(), proc.stderr
