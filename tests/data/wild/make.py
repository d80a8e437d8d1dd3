"""Writes the wild-mail corpus next to this file (run it again after editing).

Each mail is made here, byte by byte where its brokenness is the point; MANIFEST.toml
says what a CoC team must see for each one, and tests/test_wild_mail.py checks it.

    .venv/bin/python tests/data/wild/make.py
"""

from __future__ import annotations

import base64
from pathlib import Path

HERE = Path(__file__).parent
DATE = "Date: Fri, 04 Jun 2027 23:41:07 +0200\r\n"


def head(frm: bytes | str, subject: str, mid: str, extra: str = "") -> bytes:
    frm_b = frm if isinstance(frm, bytes) else frm.encode()
    return (b"From: " + frm_b + b"\r\nTo: conduct@example.org\r\n"
            + f"Subject: {subject}\r\n{DATE}Message-ID: <{mid}>\r\n{extra}".encode())


def text_mail(frm: bytes | str, subject: str, mid: str, body: bytes, *, charset: str = "utf-8",
              extra: str = "", cte: str = "8bit") -> bytes:
    return (head(frm, subject, mid, extra)
            + f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
              f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode() + body)


REPORT = ("Last night at the party someone kept touching my shoulder after I asked "
          "him to stop.\r\n")
MAILS: dict[str, bytes] = {}

# ---------------------------------------------------------------- machine mail
MAILS["oof_exchange_no_auto_submitted.eml"] = text_mail(
    '"Okafor, Ben" <ben.okafor@corp.example>', "Automatic reply: Sponsor booth question",
    "oof-1@corp.example",
    b"I am out of the office until 14 June with limited access to e-mail.\r\n",
    charset="iso-8859-1",
    extra="X-Auto-Response-Suppress: All\r\nX-MS-Exchange-Inbox-Rules-Loop: "
          "ben.okafor@corp.example\r\nThread-Topic: Sponsor booth question\r\n")
MAILS["oof_outlook_german.eml"] = text_mail(
    "Jana Krause <jana.krause@firma.example>",
    "=?iso-8859-1?q?Automatische_Antwort:_Anfrage?=", "oof-2@firma.example",
    "Ich bin bis zum 10. Juni nicht im Büro.\r\n".encode("latin-1"), charset="iso-8859-1",
    extra="X-Auto-Response-Suppress: OOF, AutoReply\r\n")
MAILS["helpdesk_x_loop_noreply.eml"] = text_mail(
    "Venue Helpdesk <helpdesk-noreply@venue.example>", "[Ticket 48213] We got your message",
    "ticket-48213@venue.example",
    b"Thank you for contacting the venue helpdesk. Ticket 48213 has been opened.\r\n",
    extra="X-Loop: helpdesk@venue.example\r\n")
MAILS["newsletter_no_reply.eml"] = text_mail(
    "Tickets <no-reply@tickets.example>", "Your weekly event news", "news-2027-23@tickets.example",
    b"This week: three new workshops. Unsubscribe at any time.\r\n",
    extra="List-Unsubscribe: <https://tickets.example/u/8f2a>\r\n")
MAILS["donotreply_auto_generated.eml"] = text_mail(
    "Badge Printer <donotreply@badges.example>", "Print job 2231 finished",
    "job-2231@badges.example",
    b"Your print job has finished.\r\n", extra="Auto-Submitted: auto-generated\r\n")
MAILS["feedback_report_arf.eml"] = (
    head("Mail Abuse Desk <fbl@isp.example>", "Complaint about message from 192.0.2.7",
         "arf-77@isp.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;\r\n"
      b"\tboundary=\"arf\"\r\n\r\n--arf\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
      b"This is an email abuse report for an email message received from IP 192.0.2.7.\r\n"
      b"--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
      b"User-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\r\n--arf\r\n"
      b"Content-Type: text/rfc822-headers\r\n\r\nFrom: conduct@example.org\r\n"
      b"Subject: [CoC #9] We received your report\r\n\r\n--arf--\r\n")
MAILS["read_receipt_unknown_mail.eml"] = (
    head("Maria Silva <maria@uni.example>", "Read: Volunteer shifts", "mdn-5@uni.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/report;\r\n"
      b"\treport-type=disposition-notification; boundary=\"mdn\"\r\n\r\n--mdn\r\n"
      b"Content-Type: text/plain; charset=utf-8\r\n\r\nYour message was displayed.\r\n"
      b"--mdn\r\nContent-Type: message/disposition-notification\r\n\r\n"
      b"Final-Recipient: rfc822; maria@uni.example\r\n"
      b"Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--mdn--\r\n")

# ---------------------------------------------------------------- human look-alikes
MAILS["noreply_form_real_report.eml"] = text_mail(
    "Conference website <noreply@djangocon.example>", "Code of Conduct report form",
    "form-311@djangocon.example",
    ("Report submitted through the website form.\r\n\r\n" + REPORT
     + "It happened near the coat check around 22:30.\r\n").encode())
MAILS["suppress_header_person.eml"] = text_mail(
    "Priya Raman <priya.raman@corp.example>", "Something that happened at the sprint",
    "AM0PR01MB2231@corp.example",
    ("Hi,\r\n\r\n" + REPORT + "Priya\r\n").encode(),
    extra="X-Auto-Response-Suppress: All\r\nX-MS-Has-Attach:\r\n")

# ---------------------------------------------------------------- senders
_long = "Gabriela Fernández-Oliveira de Albuquerque e Castro (Organização Comunitária)"
MAILS["from_gbk_raw_name.eml"] = text_mail(
    "张伟".encode("gbk") + b" <zhang.wei@example.cn>", "Report from the hallway",
    "gbk-name-1@example.cn",
    "昨天晚上在走廊里有人一直跟着我。".encode("gbk") + b"\r\n", charset="gbk")
MAILS["from_invalid_utf8_name.eml"] = text_mail(
    b"Jos\xc3\x28 Garc\xeda <jose.garcia@correo.example>", "Lo que pasó en el taller",
    "bad-utf8-name@correo.example",
    b"Durante el taller, un asistente hizo comentarios ofensivos.\r\n")
MAILS["from_long_encoded_word.eml"] = text_mail(
    "=?utf-8?b?" + base64.b64encode(_long.encode()).decode() + "?= <gabi@example.br>",
    "Relato de assédio", "long-name@example.br",
    "Um participante me seguiu até o hotel.\r\n".encode())
_gbk_name = base64.b64encode("王镕".encode("gbk")).decode()  # 镕 is GBK, not GB2312
MAILS["from_folded_gbk_encoded_name.eml"] = text_mail(
    f"=?gb2312?b?{_gbk_name[:4]}\r\n {_gbk_name[4:]}?= <wang.rong@example.cn>",
    "What I saw on Friday", "folded-word@example.cn",
    b"Someone took photos of me without asking.\r\n")
MAILS["from_without_address.eml"] = text_mail(
    "Anonymous attendee", "Report, please keep my name out", "no-address@anon.example",
    b"A speaker made jokes about women in the keynote Q&A.\r\n")
MAILS["from_two_addresses.eml"] = text_mail(
    "Eve <eve@attendee.example>, Mallory <mallory@attendee.example>", "Report about the bar",
    "two-from@attendee.example", b"We both saw a volunteer being shouted at.\r\n")

# ---------------------------------------------------------------- charsets
MAILS["gb2312_with_gbk_char_and_bad_byte.eml"] = text_mail(
    "Li Na <li.na@example.cn>", "=?gb2312?b?" + base64.b64encode(
        "会场骚扰".encode("gb2312")).decode() + "?=", "gb-bad@example.cn",
    "我在会场被骚扰了，".encode("gbk") + "镕".encode("gbk") + b"\xff"
    + "请帮忙处理。".encode("gbk") + b"\r\n", charset="gb2312")
MAILS["utf8_one_bad_byte.eml"] = text_mail(
    "Jürgen Weiß <juergen@example.de>", "Belästigung beim Abendessen", "utf8-bad@example.de",
    "Beim Abendessen hat mich ein Teilnehmer bedrängt \xff und nicht aufgehört."
    .encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff") + b"\r\n")
MAILS["iso2022jp_extended.eml"] = text_mail(
    "Sato Yuki <yuki@example.jp>", "=?iso-2022-jp?b?" + base64.b64encode(
        "会場での出来事".encode("iso2022_jp")).decode() + "?=", "jis-1@example.jp",
    "①会場で何度も声をかけられ、やめてと言っても続きました。".encode("iso2022_jp_2004")
    + b"\r\n", charset="iso-2022-jp", cte="7bit")
MAILS["shift_jis_windows_chars.eml"] = text_mail(
    "Tanaka Ken <ken@example.jp>", "Report", "sjis-1@example.jp",
    "②休憩室で写真を撮られました～".encode("cp932") + b"\r\n", charset="shift_jis")
MAILS["big5_hkscs.eml"] = text_mail(
    "Chen Mei <mei@example.hk>", "Report", "big5-1@example.hk",
    "佢喺會場一直跟蹤我。".encode("big5hkscs") + b"\r\n", charset="big5")
MAILS["koi8r_raw_name.eml"] = text_mail(
    "Ольга".encode("koi8_r") + b" <olga@example.ru>", "Report", "koi8-1@example.ru",
    "Меня преследовали после доклада.".encode("koi8_r") + b"\r\n", charset="koi8-r")
MAILS["html_entities.eml"] = (
    head("Lena Fischer <lena@example.at>", "Meldung", "html-ent@example.at")
    + b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
      b"<html><body><p>Ein Teilnehmer hat mich f&uuml;r &quot;zu emotional&quot; "
      b"erkl&auml;rt. Caf&eacute; &ndash; &#1087;&#1086;&#1084;&#1086;&#1097;&#1100; "
      b"&#x4E2D;&#x6587;</p></body></html>\r\n")
MAILS["html_meta_charset.eml"] = (
    head("Ivan <ivan@example.bg>", "Report", "html-meta@example.bg")
    + b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
      b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
      b"charset=windows-1251\"></head><body><p>"
    + "Някой ме следеше в залата.".encode("cp1251") + b"</p></body></html>\r\n")
MAILS["inline_named_text_part.eml"] = (
    head("Sam Okoye <sam@example.ng>", "My report", "inline-txt@example.ng")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
      b"--b1\r\nContent-Type: text/plain; charset=utf-8; name=\"report.txt\"\r\n"
      b"Content-Disposition: inline; filename=\"report.txt\"\r\n\r\n"
      b"At the Saturday social a man blocked the exit and would not let me leave.\r\n"
      b"--b1--\r\n")

MAILS["empty_body_and_inline_named_text.eml"] = (
    head("Ana Costa <ana.costa@example.pt>", "Relato", "inline-empty@example.pt")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n"
      b"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n"
      b"--b2\r\nContent-Type: text/plain; charset=iso-8859-1; name=\"relato.txt\"\r\n"
      b"Content-Disposition: inline; filename=\"relato.txt\"\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      b"Na fila do almo=E7o um participante fez coment=E1rios sobre o meu corpo.\r\n"
      b"--b2--\r\n")

MAILS["raw_jis_headers.eml"] = text_mail(  # an old Japanese client: JIS bytes, unencoded
    "佐藤 由紀".encode("iso2022_jp") + b" <sato@example.jp>",
    "会場での出来事", "raw-jis@example.jp",
    "懇親会で体を触られました。".encode("iso2022_jp") + b"\r\n", charset="iso-2022-jp",
    cte="7bit").replace("会場での出来事".encode(), "会場での出来事".encode("iso2022_jp"))

# ---------------------------------------------------------------- second pass: more charsets
MAILS["utf16le_without_bom.eml"] = text_mail(  # English in UTF-16: ASCII bytes and NULs
    "Dana Whit <dana@example.com>", "Report", "u16le@example.com",
    base64.encodebytes("Someone followed me to the cloakroom at the party.\r\n"
                       .encode("utf-16-le")), charset="utf-16le", cte="base64")
MAILS["utf16be_without_bom_label_utf16.eml"] = text_mail(
    "Dana Whit <dana@example.com>", "Report", "u16be@example.com",
    base64.encodebytes("Er hat mich im Flur bedrängt.\r\n".encode("utf-16-be")),
    charset="utf-16", cte="base64")
MAILS["hz_gb2312.eml"] = text_mail(  # HZ: 7-bit Chinese
    "Zhou Min <zhou@example.cn>", "Report", "hz-1@example.cn",
    "晚会上有人一直跟踪我。".encode("hz") + b"\r\n", charset="hz-gb-2312", cte="7bit")
MAILS["utf7_body.eml"] = text_mail(  # Windows Mail once wrote UTF-7
    "Zoe Marchand <zoe@example.fr>", "=?utf-7?q?Caf+AOk-?=", "u7-1@example.fr",
    "Il m'a suivie jusqu'au café, j'avais peur.\r\n".encode("utf-7"), charset="utf-7",
    cte="7bit")

# ---------------------------------------------------------------- second pass: machines
MAILS["oof_exchange_generated_source.eml"] = text_mail(
    "Tomas Berg <tomas.berg@corp.example>", "Automatic reply: Your talk slot",
    "oof-gen@corp.example", b"I am out of the office until Monday 14 June.\r\n",
    extra="X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\r\n")
MAILS["oof_polish_subject.eml"] = text_mail(
    "Aleksandra Nowak <a.nowak@firma.example>",
    "=?utf-8?q?Automatyczna_odpowied=C5=BA:_Rejestracja?=", "oof-pl@firma.example",
    b"Jestem na urlopie do 20 czerwca.\r\n", extra="X-Auto-Response-Suppress: All\r\n")
MAILS["oof_russian_subject.eml"] = text_mail(
    "Olga Petrova <o.petrova@firma.example>", "=?utf-8?b?" + base64.b64encode(
        "Автоматический ответ: Регистрация".encode()).decode() + "?=", "oof-ru@firma.example",
    "Я в отпуске до 20 июня.\r\n".encode(), extra="X-Auto-Response-Suppress: OOF\r\n")
MAILS["oof_chinese_subject.eml"] = text_mail(
    "Wang Fang <wang.fang@firma.example>", "=?utf-8?b?" + base64.b64encode(
        "自动回复: 注册".encode()).decode() + "?=", "oof-zh@firma.example",
    "我在休假，六月二十日回来。\r\n".encode(), extra="X-Auto-Response-Suppress: All\r\n")
MAILS["gmail_vacation_responder.eml"] = text_mail(
    "Priya Nair <priya.nair@gmail.example>", "Re: Your registration", "vac-1@gmail.example",
    b"Hi, I'm travelling until the 20th and will reply when I'm back.\r\n",
    extra="Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\n")
MAILS["auto_submitted_auto_notified.eml"] = text_mail(
    "Venue monitoring <alerts@venue.example>", "Room B: temperature alarm",
    "alarm-1@venue.example", b"Room B is at 29 degrees.\r\n",
    extra="Auto-Submitted: auto-notified\r\n")
MAILS["mailman_mime_digest.eml"] = (
    head("events-request@lists.example", "Events Digest, Vol 12, Issue 3", "dig-1@lists.example",
         "List-Id: Events <events.lists.example>\r\nList-Post: <mailto:events@lists.example>\r\n"
         "List-Unsubscribe: <mailto:events-request@lists.example?subject=unsubscribe>\r\n")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"dd\"\r\n\r\n--dd\r\n"
      b"Content-Type: text/plain; charset=us-ascii\r\n\r\nToday's Topics:\r\n"
      b"  1. Lunch on Friday (Kim)\r\n--dd\r\nContent-Type: multipart/digest; boundary=\"in\""
      b"\r\n\r\n--in\r\n\r\nFrom: Kim <kim@attendee.example>\r\nSubject: Lunch on Friday"
      b"\r\n\r\nWhere is lunch?\r\n--in--\r\n--dd--\r\n")
MAILS["plain_text_digest.eml"] = text_mail(  # an RFC 1153 digest: plain text, no MIME parts
    "events-request@lists.example", "Events Digest, Vol 12, Issue 4", "dig-2@lists.example",
    b"Today's Topics:\r\n\r\n   1. Lunch on Friday (Kim)\r\n\r\n------------------------------"
    b"\r\n\r\nMessage: 1\r\nFrom: Kim <kim@attendee.example>\r\nSubject: Lunch on Friday\r\n"
    b"\r\nWhere is lunch?\r\n", charset="us-ascii",
    extra="List-Id: Events <events.lists.example>\r\nList-Post: <mailto:events@lists.example>\r\n")
MAILS["exim_bounce_x_failed_recipients.eml"] = text_mail(  # no Auto-Submitted, no daemon From
    "Mail Delivery System <mail@mx.exim.example>",
    "Mail delivery failed: returning message to sender", "exim-1@mx.exim.example",
    b"This message was created automatically by mail delivery software.\r\n\r\n"
    b"A message that you sent could not be delivered to one or more of its recipients.\r\n"
    b"  nobody@exim.example\r\n    No Such User Here\r\n", charset="us-ascii",
    extra="X-Failed-Recipients: nobody@exim.example\r\n")
MAILS["qmail_bounce_plain.eml"] = text_mail(
    "MAILER-DAEMON@mx.host.example", "failure notice", "qmail-1@mx.host.example",
    b"Hi. This is the qmail-send program at mx.host.example.\r\nI'm afraid I wasn't able to"
    b" deliver your message to the following addresses.\r\n\r\n<nobody@host.example>:\r\n"
    b"Sorry, no mailbox here by that name. (#5.1.1)\r\n", charset="us-ascii")
MAILS["yahoo_bounce_plain.eml"] = text_mail(
    "Mail Delivery Subsystem <MAILER-DAEMON>", "Failure Notice", "ybounce-1@yahoo.example",
    b"Sorry, we were unable to deliver your message to the following address.\r\n\r\n"
    b"<nobody@yahoo.example>:\r\n554: delivery error: dd This user doesn't have an account\r\n",
    charset="us-ascii")

# ---------------------------------------------------------------- second pass: no text at all
_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAF"
                        "BQIAX8jx0gAAAABJRU5ErkJggg==")
MAILS["image_only_no_name.eml"] = (  # a phone's screenshot, no text, no file name
    head("Mia Tanaka <mia@phone.example>", "", "img-1@phone.example")
    + b"MIME-Version: 1.0\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
      b"\r\n" + base64.encodebytes(_PNG))
MAILS["calendar_invite_only.eml"] = (
    head("Ravi Patel <ravi@corp.example>", "Invitation: debrief @ Fri 14:00", "cal-1@corp.example")
    + b"MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n"
      b"Content-Transfer-Encoding: 7bit\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"
      b"BEGIN:VEVENT\r\nSUMMARY:Debrief\r\nDTSTART:20270611T120000Z\r\n"
      b"DESCRIPTION:About what happened at the party.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
MAILS["unnamed_image_beside_text.eml"] = (
    head("Mia Tanaka <mia@phone.example>", "Screenshot", "img-2@phone.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n--i\r\n"
      b"Content-Type: text/plain; charset=utf-8\r\n\r\nThis is what he posted about me.\r\n"
      b"--i\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(_PNG) + b"--i--\r\n")

# ---------------------------------------------------------------- second pass: broken encodings
_B64 = base64.encodebytes("Nach dem Vortrag ist mir ein Teilnehmer über den Platz"
                          " bis zum Hotel gefolgt."
                          "\r\n".encode())
MAILS["base64_cut_short.eml"] = text_mail(  # the last line cut, a stray character left
    "Jonas Becker <jonas@example.de>", "Vorfall", "b64-cut@example.de",
    _B64[:-4] + b"!\r\n", cte="base64")
MAILS["prose_labelled_base64.eml"] = text_mail(  # a form that says base64 and sends text
    "Event form <form@site.example>", "Report", "b64-prose@site.example",
    b"He followed me after the talk.\r\n", cte="base64")

# ---------------------------------------------------------------- second pass: odd senders
_NO_FROM = ("To: conduct@example.org\r\nSubject: Report\r\n" + DATE
            + "Message-ID: <{mid}>\r\n\r\nAt the social someone followed me to the cloakroom"
              " and would not leave me alone.\r\n")
MAILS["sender_without_from.eml"] = (  # a script that sets Sender and forgets From
    b"Sender: Eve Adams <eve.adams@example.com>\r\n"
    + _NO_FROM.format(mid="sender-only@example.com").encode())
MAILS["reply_to_without_from.eml"] = (  # Reply-To names where answers go, not who wrote
    b"Reply-To: Eve Adams <eve.adams@example.com>\r\n"
    + _NO_FROM.format(mid="reply-to-only@example.com").encode())

MAILS["from_encoded_whole.eml"] = text_mail(  # name and address inside one encoded word
    "=?utf-8?q?Eva_M=C3=BCller_<eva.mueller@example.de>?=", "Report", "ew-whole@example.de",
    REPORT.encode())
MAILS["encoded_word_glued_to_text.eml"] = text_mail(  # words glued to text, quoted words
    "Caf=?utf-8?q?=C3=A9?= Owner <owner@cafe.example>",
    'Re: "=?utf-8?q?Jos=C3=A9?=" at the caf=?utf-8?q?=C3=A9?=', "ew-glued@cafe.example",
    REPORT.encode())
MAILS["from_name_is_an_address.eml"] = text_mail(  # the name shows another address
    '"eve.adams@example.com" <mallory@elsewhere.example>', "Report", "name-addr@example.com",
    REPORT.encode())
MAILS["from_address_with_comment.eml"] = text_mail(
    "eve.adams@example.com (Eve Adams)", "Report", "comment@example.com", REPORT.encode())
MAILS["from_group_one_address.eml"] = text_mail(
    "Attendees: eve.adams@example.com;", "Report", "group@example.com", REPORT.encode())
MAILS["from_empty_angle.eml"] = text_mail("<>", "Report", "empty-angle@example.com",
                                          REPORT.encode())

# ---------------------------------------------------------------- second pass: more text
MAILS["empty_plain_beside_html.eml"] = (  # a mobile client: blank text/plain, the words in HTML
    head("Lee Park <lee.park@mobile.example>", "Report", "alt-empty@mobile.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
      b"--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n--a\r\n"
      b"Content-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">Someone grabbed me at"
      b" the bar after the keynote.</div>\r\n--a--\r\n")
MAILS["euc_kr_body_and_raw_name.eml"] = text_mail(
    "김지은".encode("euc-kr") + b" <jieun@example.kr>", "=?euc-kr?b?" + base64.b64encode(
        "신고".encode("euc-kr")).decode() + "?=", "kr-1@example.kr",
    "행사장에서 누군가 계속 따라왔습니다.\r\n".encode("euc-kr"), charset="euc-kr")
MAILS["windows_1251.eml"] = text_mail(
    "Ivan Sokolov <ivan@example.ru>", "Report", "w1251@example.ru",
    "Меня оскорбляли на вечеринке.\r\n".encode("cp1251"), charset="windows-1251")
MAILS["iso_8859_7.eml"] = text_mail(
    "Eleni Papadopoulou <eleni@example.gr>", "Report", "greek@example.gr",
    "Με παρενόχλησαν στο πάρτι.\r\n".encode("iso-8859-7"), charset="iso-8859-7")
MAILS["us_ascii_label_utf8_bytes.eml"] = text_mail(
    "Jörg Brandt <joerg@example.de>", "Bericht", "ascii-label@example.de",
    "Ein Teilnehmer hat mich im Flur bedrängt – schrecklich.\r\n".encode(),
    charset="us-ascii", cte="7bit")
MAILS["rfc2231_continued_filename.eml"] = (
    head("Noor Haddad <noor@example.ae>", "Report", "r2231@example.ae")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
      b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe screenshot is attached.\r\n--b\r\n"
      b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
      b" filename*0*=UTF-8''%D8%A8%D9%84%D8%A7%D8%BA;\r\n"
      b" filename*1*=%20%D8%B1%D8%B3%D9%85%D9%8A.pdf"
      b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n")
MAILS["idn_domain_utf8.eml"] = text_mail(
    "Jörg Brandt <joerg@bücher.example>".encode(), "Report", "idn@example.de", REPORT.encode())

MAILS["content_type_without_semicolon.eml"] = (  # "text/plain charset=..." read whole as a type
    head("Lee Park <lee.park@example.com>", "Report", "ctype-nosemi@example.com")
    + b"MIME-Version: 1.0\r\nContent-Type: text/plain charset=utf-8\r\n\r\n"
    + "Jemand hat mich am Arm gepackt, es war schlimm für mich.\r\n".encode())
MAILS["oof_japanese_subject.eml"] = text_mail(
    "Sato Hiro <hiro@corp.example>", "=?iso-2022-jp?b?" + base64.b64encode(
        "不在通知: 登録".encode("iso2022_jp")).decode() + "?=", "oof-ja@corp.example",
    "不在です。\r\n".encode("iso2022_jp"), charset="iso-2022-jp", cte="7bit",
    extra="X-Auto-Response-Suppress: All\r\n")

# ---------------------------------------------------------------- second pass: charset labels
MAILS["hebrew_iso_8859_8_i.eml"] = text_mail(  # "-i": logical order; Python knows no such name
    "Noa Levi <noa@example.co.il>", "=?iso-8859-8-i?b?" + base64.b64encode(
        "דיווח".encode("iso-8859-8")).decode() + "?=", "he-1@example.co.il",
    "מישהו הטריד אותי במסיבה.\r\n".encode("iso-8859-8"), charset="iso-8859-8-i")
MAILS["outlook_charset_unicode.eml"] = text_mail(  # Outlook's "unicode" is UTF-16LE
    "Dana Whit <dana@example.com>", "Report", "unicode-label@example.com",
    base64.encodebytes("Er hat mich im Flur bedrängt.\r\n".encode("utf-16-le")),
    charset="unicode", cte="base64")
MAILS["charset_win_1251_misspelt.eml"] = text_mail(
    "Ivan Sokolov <ivan@example.ru>", "Report", "win1251@example.ru",
    "Меня оскорбляли на вечеринке.\r\n".encode("cp1251"), charset="win-1251")

# ---------------------------------------------------------------- second pass: mixed bytes
MAILS["qp_utf8_with_latin1_bytes.eml"] = text_mail(  # =C3=BC beside raw Latin-1 letters
    "Jonas Becker <jonas@example.de>", "Vorfall", "qp-mixed@example.de",
    "Er sagte Dinge =C3=BCber mein Äußeres, vor allen Leuten.\r\n".encode("latin-1"),
    cte="quoted-printable")
MAILS["form_latin1_labelled_utf8.eml"] = text_mail(  # an old PHP form: cp1252 said UTF-8
    "Tagungsformular <formular@tagung.example>", "Meldung", "form-cp1252@tagung.example",
    "Belästigung im Café – er hat mich vor der Tür abgefangen.\r\n".encode("cp1252"))

MAILS["qmail_autoresponder.eml"] = text_mail(  # qmail's autorespond: only Delivered-To says so
    "Front Desk <desk@hotel.example>", "Re: Room block for speakers", "autoresp-1@hotel.example",
    b"Thank you for your message. We answer within two working days.\r\n",
    extra="Delivered-To: Autoresponder\r\n")

# ---------------------------------------------------------------- second pass: broken MIME
MAILS["multipart_without_boundary.eml"] = (
    head("Kim Sato <kim@attendee.example>", "Report", "no-boundary@attendee.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
      b"Someone followed me to the cloakroom after the keynote.\r\n")
MAILS["multipart_boundary_mismatch.eml"] = (  # the header says "abc", the lines say "xyz"
    head("Kim Sato <kim@attendee.example>", "Report", "bad-boundary@attendee.example")
    + b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"abc\"\r\n\r\n"
      b"--xyz\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
    + "Er ist mir bis zur Garderobe gefolgt, ich hatte große Angst.\r\n".encode("latin-1")
    + b"--xyz--\r\n")


if __name__ == "__main__":
    for name, raw in MAILS.items():
        (HERE / name).write_bytes(raw)
    print(f"wrote {len(MAILS)} mails to {HERE}")
