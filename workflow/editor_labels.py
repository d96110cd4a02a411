"""The round editor's Vietnamese labels: one per round-file key (the same key has the same label wherever it is),
and the words for an item of each list. The editor names every input by its round-file path; these are what the
office reads beside it."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "version": "Phiên bản tệp",
    "cluster": "Cụm thi đua",
    "name": "Tên",
    "sector": "Ngành",
    "year": "Năm",
    "guidance": "Văn bản hướng dẫn",
    "number": "Số",
    "date": "Ngày",
    "issuer": "Cơ quan ban hành",
    "units": "Các đơn vị",
    "id": "Mã đơn vị",
    "short_name": "Tên viết tắt",
    "place": "Địa điểm",
    "role": "Vai trò (chair: Trưởng cụm, vice_chair: Phó Trưởng cụm, member: thành viên)",
    "signer": "Người ký",
    "title": "Chức vụ",
    "on_behalf_of": "Ký thay cho (chức vụ)",
    "email": "Thư điện tử",
    "certificate": "Chứng thư số được ký",
    "sha256": "Dấu SHA-256 của chứng thư",
    "serial_number": "Số định danh (CCCD) trong chứng thư",
    "subject_cn": "Tên trong chứng thư",
    "signature_image": "Ảnh chữ ký (PNG)",
    "seal_image": "Ảnh con dấu (PNG)",
    "conference": "Hội nghị",
    "start": "Bắt đầu (giờ)",
    "end": "Kết thúc (giờ)",
    "online": "Trực tuyến",
    "chair": "Chủ trì",
    "secretary": "Thư ký",
    "unit": "Đơn vị",
    "attendees": "Thành phần tham dự",
    "agenda": "Chương trình",
    "proceedings": "Diễn biến",
    "elections": "Bầu Cụm trưởng, Cụm phó",
    "vice_chair": "Phó Trưởng cụm",
    "decisions": "Kết luận",
    "covenant": "Giao ước thi đua",
    "motto": "Khẩu hiệu",
    "goals": "Mục tiêu",
    "criteria": "Nhóm tiêu chí",
    "points": "Điểm",
    "items": "Tiêu chí",
    "text": "Nội dung",
    "bonus": "Điểm thưởng",
    "max_points": "Điểm tối đa",
    "penalty": "Điểm trừ",
    "commitments": "Cam kết",
    "documents": "Văn bản và người ký",
    "minutes": "Biên bản",
    "signers": "Người ký",
    "signing": "Ký số",
    "order": "Thứ tự ký (parallel: đồng thời, sequential: lần lượt)",
    "deadline": "Hạn ký",
    "reminders": "Nhắc ký",
    "trust": "Tin cậy",
    "roots": "Chứng thư gốc",
    "tsa": "Dịch vụ cấp dấu thời gian",
    "templates": "Thư mục mẫu văn bản",
    "retention": "Thời hạn lưu trữ",
    "clerk": "Văn thư (ký số của cơ quan)",
    "seals": "Ký số của cơ quan (đóng dấu) sau chữ ký của lãnh đạo",
    "issue": "Ban hành (cấp số) sau khi đủ chữ ký",
}

# Where the same key means something else: (the key of the container, or of the list for its items; the key).
IN_CONTEXT: dict[tuple[str, str], str] = {
    ("criteria", "title"): "Tên nhóm tiêu chí",
    ("criteria", "points"): "Điểm của nhóm",
    ("elections", "chair"): "Cụm trưởng (mã đơn vị)",
    ("elections", "vice_chair"): "Cụm phó (mã đơn vị)",
    ("units", "role"): "Vai trò (chair: Trưởng cụm, vice_chair: Phó Trưởng cụm, member: thành viên)",
    ("documents", "covenant"): "Bản giao ước",
    ("documents", "minutes"): "Biên bản",
    ("cluster", "name"): "Tên cụm",
    ("units", "name"): "Tên đơn vị",
    ("signer", "name"): "Họ và tên",
    ("chair", "name"): "Họ và tên",
    ("secretary", "name"): "Họ và tên",
    ("attendees", "name"): "Họ và tên",
    ("attendees", "unit"): "Đơn vị (mã)",
    ("chair", "unit"): "Đơn vị (mã)",
    ("secretary", "unit"): "Đơn vị (mã)",
    ("clerk", "name"): "Họ và tên",
    ("clerk", "certificate"): "Chứng thư số của cơ quan",
}

ITEM_LABELS: dict[str, str] = {
    "units": "Đơn vị",
    "attendees": "Người tham dự",
    "agenda": "Nội dung",
    "proceedings": "Ý kiến",
    "decisions": "Kết luận",
    "goals": "Mục tiêu",
    "criteria": "Nhóm tiêu chí",
    "items": "Tiêu chí",
    "bonus": "Mục thưởng",
    "penalty": "Mục trừ",
    "commitments": "Cam kết",
    "signers": "Người ký",
    "reminders": "Lần nhắc",
    "roots": "Chứng thư",
}


# The words for the allowed values of a choice: (the key, or "minutes" for the minutes' signers; the value, or the
# form of a value for a choice between a word and a list or a section).
OPTIONS: dict[tuple[str, str], str] = {
    ("role", "chair"): "Trưởng cụm",
    ("role", "vice_chair"): "Phó Trưởng cụm",
    ("role", "member"): "Thành viên",
    ("order", "parallel"): "Đồng thời (mọi người ký cùng lúc)",
    ("order", "sequential"): "Lần lượt (người sau ký khi người trước đã ký)",
    ("minutes", "chair"): "Chủ trì hội nghị",
    ("minutes", "secretary"): "Thư ký hội nghị",
    ("signers", "all"): "Lãnh đạo tất cả các đơn vị",
    ("signers", "array"): "Chỉ lãnh đạo các đơn vị sau",
    ("trust", "demo"): "Chứng thư thử nghiệm của hệ thống (demo)",
    ("trust", "object"): "Chứng thư gốc và dịch vụ dấu thời gian riêng",
    ("retention", "permanent"): "Vĩnh viễn",
    ("retention", "integer"): "Số năm",
    ("*", "null"): "— chưa nêu —",
}

# A line of help under an input: (the key's container or list, or None for anywhere; the key).
HINTS: dict[tuple[str | None, str], str] = {
    ("units", "id"): "Chữ thường không dấu, nối bằng gạch ngang, ví dụ: phu-tho.",
    (None, "deadline"): "Số ngày kể từ khi phát hành (P7D là 7 ngày), hoặc một thời điểm có múi giờ, "
    "ví dụ: 2025-03-27T17:00:00+07:00.",
    ("reminders", "*"): "Nhắc trước hạn ký: P2D là 2 ngày, PT12H là 12 giờ.",
    (None, "sha256"): "Chỉ chứng thư có dấu SHA-256 này được ký (64 chữ số hệ 16).",
    (None, "serial_number"): "Mọi chứng thư mang số định danh này, ví dụ: CCCD:001080001234.",
    (None, "subject_cn"): "Khi tên trong chứng thư khác họ tên người ký.",
    (None, "signature_image"): "Tên tệp ảnh PNG gửi kèm tệp đợt ký.",
    (None, "seal_image"): "Tên tệp ảnh PNG gửi kèm tệp đợt ký.",
    (None, "templates"): "Thư mục mẫu DOCX riêng gửi kèm tệp đợt ký; để trống dùng mẫu chuẩn.",
    (None, "tsa"): "Địa chỉ dịch vụ cấp dấu thời gian (RFC 3161), ví dụ: http://tsa.ca.gov.vn.",
    ("roots", "*"): "Tên tệp chứng thư gốc (PEM hoặc DER) gửi kèm tệp đợt ký.",
    (None, "on_behalf_of"): "Khi người ký là cấp phó ký thay: chức vụ của cấp trưởng, ví dụ: Viện trưởng.",
    (None, "retention"): "Thời hạn lưu trữ văn bản đã ký (Vĩnh viễn, hoặc số năm), ghi vào siêu dữ liệu gói lưu trữ.",
    (None, "clerk"): "Văn thư ký số bằng chứng thư số của cơ quan: đóng dấu sau chữ ký của lãnh đạo; văn thư đơn vị "
    "Cụm trưởng ban hành văn bản (cấp số).",
    (None, "seals"): "Mỗi đơn vị cần có văn thư; con dấu được ký số đè lên một phần ba bên trái chữ ký của lãnh đạo.",
    (None, "issue"): "Khi đơn vị Cụm trưởng có văn thư; bỏ chọn để trống số văn bản.",
    (None, "start"): "Giờ:phút, ví dụ 08:00.",
    (None, "end"): "Giờ:phút, ví dụ 11:30.",
}


# The upload beside an input that names a file: its words and the files the browser offers.
UPLOADS: dict[str, tuple[str, str]] = {
    "image": ("Tải ảnh PNG lên", "image/png,.png"),
    "certificate": ("Tải chứng thư lên", ".pem,.crt,.cer,.der"),
    "template": ("Tải hai mẫu covenant.docx và minutes.docx lên", ".docx"),
}


def option_label(key: str, value: object, path: str = "") -> str:
    """The words for an allowed value (or a value's form: "array", "object") of `key`."""
    if path.startswith("documents.minutes."):
        key = "minutes"
    return OPTIONS.get((key, str(value))) or OPTIONS.get(("*", str(value))) or str(value)


def hint(key: str, context: str | None = None) -> str:
    """A line of help for `key` inside `context`, or ""."""
    if context is not None and (context, "*") in HINTS and (key.isdigit() or key == "__new__"):
        return HINTS[(context, "*")]
    return HINTS.get((context, key)) or HINTS.get((None, key)) or ""


def label(key: str, context: str | None = None) -> str:
    """The words for `key` inside `context` (its container's key, or its list's key for an item's fields)."""
    if context is not None and (context, key) in IN_CONTEXT:
        return IN_CONTEXT[(context, key)]
    return LABELS.get(key, key)


def item_label(key: str) -> str:
    return ITEM_LABELS.get(key, "Mục")
