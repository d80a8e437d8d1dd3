"""How mail clients mark the quoted part of a reply, language by language (data only).

Staff answer cocmail from phones and desktops set to their own language, and each
client writes the quote's attribution ("On … wrote:"), Outlook's header block
("From: … Sent: …") and its "Original Message" rule in that language. replytext.py
compiles these tables into its patterns; adding a language is adding a row here.

Sources: what Gmail (web, Android, iOS), Outlook (desktop, web, mobile), Apple Mail,
Thunderbird and BlackBerry write in each language, as seen in real replies and in the
test suites of email_reply_parser, mail-parser-reply and talon. Words are matched
case-insensitively; a Latin, Cyrillic or Greek word must stand alone, a CJK one need not.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuoteLanguage:
    openers: tuple[str, ...] = ()      # first word of a dated attribution ("On 2 June …")
    verbs: tuple[str, ...] = ()        # the attribution's verb ("… wrote:")
    header_from: tuple[str, ...] = ()  # Outlook header block: the sender field ("From:")
    header_sent: tuple[str, ...] = ()  # … and the date field closely below it ("Sent:")
    separators: tuple[str, ...] = ()   # "-----Original Message-----" and forwards
    footers: tuple[str, ...] = ()      # mobile footers, before a device name


LANGUAGES: dict[str, QuoteLanguage] = {
    "en": QuoteLanguage(
        openers=("On",), verbs=("wrote",), header_from=("From",),
        header_sent=("Sent", "Date"),
        separators=("Original Message", "Forwarded message", "Forwarded Message"),
        footers=("Sent from my",)),
    "de": QuoteLanguage(
        openers=("Am",), verbs=("schrieb",), header_from=("Von",),
        header_sent=("Gesendet", "Datum"),
        separators=("Ursprüngliche Nachricht", "Weitergeleitete Nachricht"),
        footers=("Von meinem", "Gesendet von meinem")),
    "fr": QuoteLanguage(
        openers=("Le",), verbs=("a écrit", "a =C3=A9crit"), header_from=("De",),
        header_sent=("Envoyé", "Date d'envoi", "Date"),
        separators=("Message d'origine", "Message original", "Message transféré"),
        footers=("Envoyé de mon",)),
    "es": QuoteLanguage(
        openers=("El",), verbs=("escribió", "escribi=C3=B3"), header_from=("De",),
        header_sent=("Enviado", "Fecha"),
        separators=("Mensaje original", "Mensaje reenviado"),
        footers=("Enviado desde mi",)),
    "pt": QuoteLanguage(
        openers=("Em", "No dia"), verbs=("escreveu",), header_from=("De",),
        header_sent=("Enviada", "Enviado", "Data"),
        separators=("Mensagem original", "Mensagem encaminhada"),
        footers=("Enviado do meu",)),
    "it": QuoteLanguage(
        openers=("Il",), verbs=("ha scritto", "scrisse"), header_from=("Da",),
        header_sent=("Inviato", "Data"),
        separators=("Messaggio originale", "Messaggio inoltrato"),
        footers=("Inviato da",)),
    "nl": QuoteLanguage(
        openers=("Op",), verbs=("schreef",), header_from=("Van",),
        header_sent=("Verzonden", "Datum"),
        separators=("Oorspronkelijk bericht", "Origineel bericht", "Doorgestuurd bericht"),
        footers=("Verstuurd vanaf mijn",)),
    "da": QuoteLanguage(
        openers=("Den",), verbs=("skrev",), header_from=("Fra",),
        header_sent=("Sendt", "Dato"),
        separators=("Oprindelig meddelelse", "Videresendt meddelelse"),
        footers=("Sendt fra min",)),
    "sv": QuoteLanguage(
        openers=("Den",), verbs=("skrev", "har skrivit"), header_from=("Från",),
        header_sent=("Skickat", "Datum"),
        separators=("Ursprungligt meddelande", "Vidarebefordrat meddelande"),
        footers=("Skickat från min",)),
    "no": QuoteLanguage(
        openers=("Den",), verbs=("skrev",), header_from=("Fra",),
        header_sent=("Sendt", "Dato"),
        separators=("Opprinnelig melding", "Videresendt melding"),
        footers=("Sendt fra min",)),
    "fi": QuoteLanguage(
        verbs=("kirjoitti",), header_from=("Lähettäjä",),
        header_sent=("Lähetetty", "Päivämäärä"),
        separators=("Alkuperäinen viesti", "Välitetty viesti"),
        footers=("Lähetetty",)),
    "pl": QuoteLanguage(
        openers=("W dniu", "Dnia"), verbs=("napisał", "napisała", "napisal", "pisze"),
        header_from=("Od",), header_sent=("Wysłane", "Wysłano", "Data"),
        separators=("Oryginalna wiadomość", "Wiadomość oryginalna", "Przekazana wiadomość"),
        footers=("Wysłane z mojego",)),
    "cs": QuoteLanguage(
        openers=("Dne",), verbs=("napsal", "napsala"), header_from=("Od",),
        header_sent=("Odesláno", "Datum"),
        separators=("Původní zpráva", "Přeposlaná zpráva"),
        footers=("Odesláno z mého",)),
    "ru": QuoteLanguage(
        verbs=("написал", "написала", "пишет"), header_from=("От",),
        header_sent=("Отправлено", "Дата"),
        separators=("Исходное сообщение", "Пересылаемое сообщение", "Пересланное сообщение"),
        footers=("Отправлено с",)),
    "uk": QuoteLanguage(
        verbs=("написав", "написала", "пише"), header_from=("Від",),
        header_sent=("Надіслано", "Дата"),
        separators=("Оригінальне повідомлення", "Початкове повідомлення",
                    "Переслане повідомлення"),
        footers=("Надіслано з",)),
    "tr": QuoteLanguage(
        verbs=("yazdı",), header_from=("Kimden",),
        header_sent=("Gönderildi", "Gönderilme Tarihi", "Tarih"),
        separators=("Orijinal Mesaj", "İletilen ileti"),
        footers=("iPhone'umdan gönderildi",)),
    "hu": QuoteLanguage(
        verbs=("írta",), header_from=("Feladó",), header_sent=("Elküldve", "Küldve", "Dátum"),
        separators=("Eredeti üzenet", "Továbbított üzenet"),
        footers=("Elküldve az",)),
    "el": QuoteLanguage(
        openers=("Στις",), verbs=("έγραψε",), header_from=("Από",),
        header_sent=("Αποστολή", "Ημερομηνία", "Στάλθηκε"),
        separators=("Αρχικό μήνυμα", "Προωθημένο μήνυμα"),
        footers=("Στάλθηκε από",)),
    "ja": QuoteLanguage(
        verbs=("書きました", "のメッセージ"), header_from=("差出人", "送信者"),
        header_sent=("送信日時", "日付"),
        separators=("元のメッセージ", "転送メッセージ")),
    "zh": QuoteLanguage(
        openers=("在",), verbs=("写道", "寫道"), header_from=("发件人", "寄件者", "發件人"),
        header_sent=("发送时间", "日期", "傳送時間", "寄件日期"),
        separators=("原始邮件", "原始郵件", "转发的邮件", "原始信件")),
    "he": QuoteLanguage(
        openers=("בתאריך", "ב-"), verbs=("כתב", "כתבה"), header_from=("מאת",),
        header_sent=("נשלח", "תאריך"),
        separators=("הודעה מקורית", "הודעה שהועברה")),
}


def all_of(field: str) -> tuple[str, ...]:
    """Every language's words for `field`, longest first (so "Date d'envoi" beats "Date")."""
    words = {w for lang in LANGUAGES.values() for w in getattr(lang, field)}
    return tuple(sorted(words, key=lambda w: (-len(w), w)))
