"""Vietnamese for every error code (signing/errors.py, workflow/errors.py): what a leader or the office reads.

The English message stays in logs and on the command line; the web pages and the JSON API's ``message`` show
the text of the error's code. A code without its own text falls back to its family's (``signature.x`` →
``signature``), then to a general sentence that quotes the English.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from signing.errors import CovenantError, SignatureRejected
from signing.names import slugify

VN_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

TEXTS: dict[str, str] = {
    "error": "Không thực hiện được.",
    "not_found": "Không tìm thấy (đợt ký, văn bản, ô ký hoặc gói lưu trữ).",
    "settings": "Cấu hình máy chủ (biến COVENANT_…) không dùng được; báo người quản trị.",
    "conflict": "Không thực hiện được ở trạng thái hiện tại của đợt ký.",
    # signatures
    "signature": "Chữ ký không được chấp nhận.",
    "signature.rejected": "Chữ ký không được chấp nhận.",
    "signature.revoked": "Chứng thư số đã bị thu hồi: không thể dùng để ký.",
    "signature.expired": "Chứng thư số đã hết hạn.",
    "signature.untrusted": (
        "Chứng thư số không được tin cậy cho đợt ký này (không do tổ chức chứng thực được chấp nhận cấp)."
    ),
    "signature.wrong_signer": (
        "Văn bản được ký bằng chứng thư số của người khác, không phải của người ký được chỉ định cho ô ký này."
    ),
    "signature.wrong_certificate": "Văn bản được ký bằng chứng thư số khác với chứng thư đã đăng ký cho đồng chí.",
    "signature.wrong_identity": (
        "Văn bản được ký bằng chứng thư số có số định danh (CCCD) khác với số đã đăng ký cho đồng chí."
    ),
    "signature.wrong_field": (
        "Chữ ký nằm trong ô ký của người khác (hoặc trong một ô ký mới vẽ trên khối chữ ký của người khác), không "
        "phải ô ký của đồng chí."
    ),
    "signature.new_field": (
        "Phần mềm ký đã tạo một ô ký mới nằm ngoài khối chữ ký còn trống của đồng chí (hoặc trùng tên một ô đã có): "
        "hãy ký vào ô đã chuẩn bị, hoặc vẽ ô ký mới bên trong khối chữ ký của đồng chí."
    ),
    "signature.no_room": (
        "Phần mềm ký không để chỗ cho dấu thời gian trong chữ ký: hãy ký lại với dịch vụ cấp dấu thời gian của đợt ký."
    ),
    "signature.no_revocation": (
        "Không lấy được thông tin thu hồi (CRL/OCSP) của chứng thư số người ký nên chưa xác nhận được chứng thư; "
        "báo văn phòng cụm kiểm tra cấu hình tin cậy của đợt ký."
    ),
    "signature.stale": (
        "Văn bản đã có thêm chữ ký của lãnh đạo khác từ lúc đồng chí tải về; hãy tải bản mới nhất và ký lại."
    ),
    "signature.rewritten": (
        "Tệp không phải là văn bản đã chuẩn bị cộng thêm đúng một chữ ký (văn bản đã bị lưu lại hoặc sửa đổi)."
    ),
    "signature.revisions": "Tệp thêm quá nhiều lần lưu vào văn bản: chữ ký chỉ cần một lần lưu.",
    "signature.count": "Tệp phải có thêm đúng một chữ ký mới của đồng chí.",
    "signature.not_certified": "Văn bản không mang chứng thực của Văn phòng Cụm hoặc chứng thực không cho ký thêm.",
    "signature.modified": "Nội dung văn bản đã bị thay đổi (không chỉ ký vào ô ký).",
    "signature.seal_before_leader": (
        "Quy tắc: văn thư của đơn vị chỉ ký số của cơ quan (đóng dấu) sau khi Thủ trưởng đơn vị đã ký văn bản."
    ),
    "signature.issue_before_all": (
        "Quy tắc: văn thư đơn vị Cụm trưởng chỉ ban hành văn bản (cấp số, ngày ban hành) khi đã có đủ chữ ký của "
        "lãnh đạo và chữ ký số của cơ quan các đơn vị."
    ),
    "signature.not_organisation": (
        "Quy tắc: chữ ký số của cơ quan phải dùng chứng thư số của chính cơ quan, đơn vị (không dùng chứng thư số "
        "cá nhân hay của đơn vị khác)."
    ),
    "signature.earlier_changed": "Chữ ký của đơn vị khác trong văn bản đã bị thay đổi hoặc bị bỏ đi.",
    "signature.coverage": "Chữ ký không bao trùm toàn bộ văn bản.",
    "signature.broken": "Chữ ký không hợp lệ (dữ liệu ký bị hỏng).",
    "signature.timestamp": "Dấu thời gian của chữ ký không hợp lệ.",
    "signature.no_timestamp": "Chữ ký thiếu dấu thời gian (RFC 3161) mà đợt ký này yêu cầu.",
    # files
    "pdf": "Tệp PDF bị hỏng hoặc không đọc được.",
    "pdf.unreadable": "Tệp PDF bị hỏng hoặc không đọc được.",
    "pdf.not_pdf": "Tệp tải lên không phải là PDF.",
    "pdf.encrypted": "Tệp PDF có mật khẩu: hãy tải lên tệp không đặt mật khẩu.",
    "pdf.anchor": "Văn bản không có vị trí ô ký cho một người ký (mẫu văn bản thiếu khối chữ ký).",
    # keys and signing services
    "signer.key": "Không dùng được khóa ký (tệp, mật khẩu hoặc mã PIN không đúng).",
    "signer.token": "Không mở được thiết bị ký (token).",
    "signer.provider": "Dịch vụ ký số từ xa từ chối hoặc không trả lời.",
    "signer.remote": "Dữ liệu ký máy chủ gửi về không hợp lệ: không ký.",
    "signer.link": "Đây không phải là liên kết ký của hệ thống (cần dạng https://…/l/MÃ).",
    "signer.unreachable": "Không kết nối được tới máy chủ ký: kiểm tra mạng rồi thử lại.",
    # links
    "link": "Liên kết không dùng được lúc này.",
    "link.unknown": "Liên kết không đúng: hãy kiểm tra đã sao chép đầy đủ.",
    "link.gone": "Liên kết không còn dùng được (đã hết hạn, đã được thay bằng liên kết mới hoặc ô ký đã được ký).",
    "link.stale": "Có lãnh đạo khác vừa ký văn bản này: hãy ký lại.",
    "link.conflict": "Đợt ký không nhận chữ ký lúc này (đang tạm dừng, đã hủy hoặc đã phát hành lại).",
    "link.rejected": "Không thực hiện được yêu cầu.",
    "link.reason": "Hãy ghi lý do.",
    "link.replaced": "Liên kết đã được thay bằng liên kết mới hoặc đã bị thu hồi; hãy dùng thư mới nhất.",
    "link.expired": "Liên kết đã hết hạn: đã quá hạn ký của đợt ký.",
    "remote": "Chưa ký số từ xa được.",
    "remote.provider": "Máy chủ chưa được cấu hình dịch vụ ký số từ xa này.",
    "remote.user": "Hãy nhập mã người dùng (tài khoản) của đồng chí ở dịch vụ ký số từ xa.",
    "remote.no_certificate": "Dịch vụ ký số từ xa không có chứng thư số nào cho tài khoản này.",
    "remote.refused": "Đồng chí đã từ chối yêu cầu ký trên điện thoại; văn bản chưa được ký.",
    "remote.timeout": "Đã hết thời gian chờ xác nhận trên điện thoại; văn bản chưa được ký, hãy bấm ký lại.",
    "remote.certificate_expired": "Chứng thư số của tài khoản này đã hết hạn hoặc chưa có hiệu lực.",
    "remote.wrong_signer": "Chứng thư số của tài khoản này không phải của người ký ô này.",
    "remote.none": "Không có yêu cầu ký từ xa nào đang chờ; hãy bấm ký lại.",
    "handoff": "Địa chỉ tải văn bản cho dịch vụ ký số không dùng được; hãy bấm ký lại trên trang.",
    "handoff.unknown": "Địa chỉ tải văn bản không đúng.",
    "handoff.used": "Địa chỉ này đã được dùng một lần; hãy bấm ký lại trên trang để nhận địa chỉ mới.",
    "handoff.expired": "Địa chỉ này đã hết hạn (chỉ dùng được trong 10 phút); hãy bấm ký lại trên trang.",
    "handoff.stale": "Văn bản đã thay đổi từ lúc tải về (có lãnh đạo khác vừa ký); hãy bấm ký lại trên trang.",
    "handoff.not_pdf": "Tệp gửi lên không phải PDF (hoặc lớn hơn 50 MB).",
    "link.round_generating": "Văn bản đang được tạo, chưa ký được; hãy thử lại sau ít phút.",
    "link.used": "Vị trí ký này đã được ký; liên kết không dùng lại được.",
    "link.round_paused": "Đợt ký đang tạm dừng (có đơn vị từ chối ký).",
    "link.round_voided": "Đợt ký đã bị hủy.",
    "link.round_superseded": "Đợt ký đã được phát hành lại; hãy dùng liên kết trong thư mới.",
    "link.round_expired": "Đợt ký đã hết hạn.",
    # round files, launches, documents, accounts, mail, the machine
    "round_file.invalid": "Tệp đợt ký có lỗi: xem từng dòng được nêu.",
    "draft.changed": (
        "Bản nháp vừa được người khác sửa sau khi đồng chí mở nó; thay đổi của đồng chí chưa được lưu. Hãy tải lại "
        "trang để xem bản mới nhất (hoặc ghi đè bằng bản của mình)."
    ),
    "draft": "Không thực hiện được với bản nháp này.",
    "directory.invalid": "Thông tin đơn vị trong danh bạ cụm chưa hợp lệ: xem từng mục được nêu.",
    "launch.invalid": "Không khởi tạo được đợt ký với dữ liệu đã cho.",
    "document.template": "Mẫu văn bản không dựng được cho đợt ký này.",
    "user.invalid": "Tài khoản không hợp lệ.",
    "mail.failed": "Không gửi được thư điện tử: máy chủ thư từ chối hoặc không trả lời.",
    "machine": "Máy chủ chưa sẵn sàng: hãy báo cho quản trị hệ thống.",
    "machine.conversion": "Không chuyển được văn bản sang PDF (LibreOffice): hãy báo cho quản trị hệ thống.",
    "machine.font_missing": "Máy chủ thiếu phông chữ cho con dấu chữ ký: hãy báo cho quản trị hệ thống.",
}


def vietnamese(code: str) -> str | None:
    """The text for a code, or for its family; None when neither has one."""
    while code:
        if code in TEXTS:
            return TEXTS[code]
        code = code.rpartition(".")[0]
    return None


def vietnamese_message(exc: CovenantError) -> str:
    """What a user reads for an error: the text of its code, else a general sentence quoting the English."""
    text = vietnamese(exc.code)
    if not text:
        return f"Không thực hiện được: {exc}"
    if isinstance(exc, SignatureRejected):  # the page says what the command line says, pyHanko's reason included
        return f"{text} Chi tiết: {exc}"
    return text


def vn_time(value: object, prose: bool = False) -> str:
    """A moment (a datetime or ISO 8601; naive means UTC) in Vietnamese local time: "20/03/2024 09:15:02 (GMT+7)"
    for pages, or in a sentence of a letter (`prose`): "09 giờ 15 ngày 20/03/2024"."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(VN_ZONE)
    return local.strftime("%H giờ %M ngày %d/%m/%Y" if prose else "%d/%m/%Y %H:%M:%S (GMT+7)")


def fold(text: str) -> str:
    """Accent- and case-insensitive form for search: "Phu Tho" finds "Phú Thọ"."""
    return slugify(text).replace("-", " ")


# The round check's problems (workflow/stages/check.py, and pydantic's words for a value of the wrong type), as the
# editor shows them beside an input; the English stays as the command line prints it. Unknown: the English itself.
PROBLEMS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"criteria groups sum to (?P<n>[\d.]+) points, not 100"),
        "Các nhóm tiêu chí cộng lại {n} điểm, chưa đúng 100 điểm.",
    ),
    (
        re.compile(r"items of (?P<t>.+) sum to (?P<n>[\d.]+) points, not the group's (?P<g>[\d.]+)"),
        "Các tiêu chí của nhóm {t} cộng lại {n} điểm, khác điểm của nhóm ({g}).",
    ),
    (re.compile(r"required field is missing"), "Chưa nhập (bắt buộc)."),
    (re.compile(r"unknown key \(typo\?\)"), "Mục này không có trong tệp đợt ký (gõ nhầm tên?)."),
    (re.compile(r"unknown unit id (?P<u>.+)"), "Không có đơn vị mã {u} trong danh sách đơn vị."),
    (re.compile(r"duplicate unit id (?P<u>'[^']*')"), "Mã đơn vị {u} bị trùng."),
    (re.compile(r"no unit has role: chair"), "Chưa có đơn vị Trưởng cụm (cần đúng một)."),
    (re.compile(r"a second chair"), "Đã có một đơn vị Trưởng cụm khác."),
    (re.compile(r"the deadline (?P<d>\S+) is in the past"), "Hạn ký {d} đã qua."),
    (re.compile(r"String should have at least 1 character"), "Chưa nhập."),
    (re.compile(r"String should have at most (?P<n>\d+) characters?"), "Dài quá {n} ký tự."),
    (re.compile(r"String should match pattern"), "Không đúng định dạng."),
    (re.compile(r"Input should be a valid (number|decimal|integer)"), "Phải là một số."),
    (re.compile(r"Input should be a valid date"), "Phải là một ngày (năm-tháng-ngày)."),
    (re.compile(r"Input should be a valid (string|list|dictionary)"), "Kiểu dữ liệu không đúng."),
    (re.compile(r"Input should be (?P<v>'[^']*'(, '[^']*')*( or '[^']*')?)"), "Chỉ được là {v}."),
    (
        re.compile(r"characters the document font cannot print: (?P<c>.+)"),
        "Có ký tự phông chữ văn bản không in được: {c}.",
    ),
]


def problem_vietnamese(message: str) -> str:
    """The Vietnamese of one round-check problem, or the English when it has none yet."""
    for pattern, text in PROBLEMS:
        match = pattern.search(message)
        if match:
            words = {k: (v or "").replace("' or '", "' hoặc '") for k, v in match.groupdict().items()}
            return text.format(**words)
    return message
