"""Plain Vietnamese for the reasons the pipeline gives in English (the English stays in logs and the CLI)."""

from __future__ import annotations

# (what the English reason contains, what the leader reads), most specific first
REASONS = [
    ("revoked", "Chứng thư số đã bị thu hồi: không thể dùng để ký."),
    ("expired", "Chứng thư số đã hết hạn hoặc liên kết đã hết hạn."),
    ("not trusted", "Chứng thư số không được tin cậy cho đợt ký này (không do tổ chức chứng thực được chấp nhận cấp)."),
    (
        "the signer named for this field",
        "Văn bản được ký bằng chứng thư số của người khác, không phải của người ký được chỉ định cho ô ký này.",
    ),
    ("not the certificate pinned", "Văn bản được ký bằng chứng thư số khác với chứng thư đã đăng ký cho đồng chí."),
    ("not in this signer's field", "Chữ ký nằm ở ô ký của đơn vị khác, không phải ô ký của đồng chí."),
    ("encrypted", "Tệp PDF có mật khẩu: hãy tải lên tệp không đặt mật khẩu."),
    ("not a PDF", "Tệp tải lên không phải là PDF."),
    ("not a readable PDF", "Tệp PDF bị hỏng hoặc không đọc được."),
    (
        "not the prepared document plus one signature",
        "Tệp không phải là văn bản đã chuẩn bị cộng thêm đúng một chữ ký (văn bản đã bị lưu lại hoặc sửa đổi).",
    ),
    ("expected exactly one new signature", "Tệp phải có thêm đúng một chữ ký mới của đồng chí."),
    ("certification", "Nội dung văn bản đã bị thay đổi sau khi Văn phòng Cụm chứng thực."),
    ("beyond filling", "Nội dung văn bản đã bị thay đổi (không chỉ ký vào ô ký)."),
    ("no timestamp", "Chữ ký thiếu dấu thời gian (RFC 3161) mà đợt ký này yêu cầu."),
    ("already signed", "Vị trí ký này đã được ký; liên kết không dùng lại được."),
    ("replaced or withdrawn", "Liên kết đã được thay bằng liên kết mới hoặc đã bị thu hồi; hãy dùng thư mới nhất."),
    ("not known", "Liên kết không đúng: hãy kiểm tra đã sao chép đầy đủ."),
    ("paused", "Đợt ký đang tạm dừng (có đơn vị từ chối ký)."),
    ("voided", "Đợt ký đã bị hủy."),
    ("superseded", "Đợt ký đã được phát hành lại; hãy dùng liên kết trong thư mới."),
    ("signed in the meantime", "Có lãnh đạo khác vừa ký văn bản này: hãy ký lại."),
    ("broken", "Chữ ký không hợp lệ (dữ liệu ký bị hỏng)."),
    ("reason", "Hãy ghi lý do."),
]


def vietnamese_reason(message: str) -> str:
    lowered = message.lower()
    for needle, text in REASONS:
        if needle.lower() in lowered:
            return text
    return f"Không thực hiện được: {message}"
