"""E-mail to leaders and the secretariat: Vietnamese subject and body, plain text and HTML, sent by SMTP.

COVENANT_SMTP_URL: smtp://host:port (plain, e.g. a relay on the LAN), smtp+starttls://user:pass@host:587 or
smtps://user:pass@host:465. COVENANT_MAIL_FROM names the sender. Without an SMTP URL nothing is sent and the
caller records that (the links are still issued: `covenant round links` shows them).
"""

from __future__ import annotations

import html
import smtplib
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

from workflow.errors import MailError

DOCUMENTS = {"covenant": "Bản giao ước thi đua", "minutes": "Biên bản hội nghị"}


@dataclass(frozen=True)
class Mail:
    to: str
    to_name: str
    subject: str
    text: str
    html: str


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def compose(to: str, to_name: str, subject: str, paragraphs: list[str], link: str | None = None) -> Mail:
    """One message in both forms; the link (if any) as a button in HTML and on its own line in text."""
    text = "\n\n".join(paragraphs)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link:
        text += f"\n\n{link}\n"
        body += (
            f'<p><a href="{html.escape(link)}" style="display:inline-block;padding:10px 16px;background:#a31515;'
            f'color:#fff;text-decoration:none;border-radius:4px">Mở văn bản để ký</a></p>'
            f'<p style="font-size:12px;color:#555">{html.escape(link)}</p>'
        )
    text += "\n\n-- \nHệ thống ký số giao ước thi đua (covenant). Liên kết này chỉ dành riêng cho người nhận.\n"
    page = f'<!doctype html><html lang="vi"><head><meta charset="utf-8"></head><body>{body}</body></html>'
    return Mail(to, _nfc(to_name), _nfc(subject), _nfc(text), _nfc(page))


def send(smtp_url: str, sender: str, mail: Mail, message_id: str | None = None) -> str:
    """Send one message; returns its Message-ID. Raises MailError (the task retries)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((mail.to_name, mail.to))
    message["Subject"] = mail.subject
    message["Message-ID"] = message_id or make_msgid(domain="covenant.local")
    message.set_content(mail.text, charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    url = urlsplit(smtp_url)
    host, port = url.hostname or "127.0.0.1", url.port
    try:
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=30)
        else:
            client = smtplib.SMTP(host, port or 25, timeout=30)
        with client:
            if url.scheme == "smtp+starttls":
                client.starttls()
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"SMTP {host}:{port}: {exc}") from exc
    return str(message["Message-ID"])
