"""Reading what a request sends: bodies capped, forms and JSON checked field by field.

Every problem is a `FormError` with an HTTP status and a sentence for the
page; nothing here touches the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from ..app.signups import MAX_NAME, clean_name, normalise
from ..errors import SubscriberError

MAX_BODY = 16 * 1024  # a subscribe form is a few hundred bytes
MAX_FIELDS = 20
MAX_EMAIL = 320  # longer than any valid address; checked again by normalise
HONEYPOT = "website"  # hidden from people; bots fill in every field they see
ONE_CLICK = "List-Unsubscribe=One-Click"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


class FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, or FormError 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise FormError(413, f"The request is too large (at most {limit // 1024} kB).")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FormError(413, f"The request is too large (at most {limit // 1024} kB).")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # The client went away, or was too slow and the server closed the
        # connection (`[web] body_timeout`): nobody is left to read an answer.
        raise FormError(400, "The request ended before its body did.") from exc
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def wants_json(request: Request) -> bool:
    return media_type(request) == "application/json"


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; each field at most once."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, "The form could not be read (it is not valid UTF-8 form data).") \
            from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise FormError(400, f"The form sent the field {key[:40]!r} twice.")
        fields[key] = value
    return fields


def parse_json(body: bytes) -> dict[str, str]:
    """A JSON object whose fields we read are strings (or null for optional ones)."""
    try:
        data = json.loads(body.decode("utf-8"))
    # RecursionError: a few thousand nested `[` fit in the size cap and exhaust
    # the decoder's stack; that is a bad body, not a failure of ours.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormError(400, "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise FormError(400, 'Expected a JSON object such as {"email": "you@example.org"}.')
    fields: dict[str, str] = {}
    for key in ("email", "name", HONEYPOT):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise FormError(400, f'"{key}" must be a string.')
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # "\ud800": valid JSON, not text
                raise FormError(400, f'"{key}" is not valid Unicode text.') from exc
        fields[key] = value
    return fields


async def read_fields(request: Request) -> dict[str, str]:
    """The fields of a form or JSON POST; FormError 415 for anything else."""
    kind = media_type(request)
    body = await read_body(request)
    if kind == "application/json":
        return parse_json(body)
    if kind in ("application/x-www-form-urlencoded", ""):
        return parse_form(body)
    raise FormError(
        415, "Send the form as application/x-www-form-urlencoded or application/json."
    )


@dataclass(frozen=True)
class Signup:
    email: str  # normalised
    name: str
    bot: bool  # the honeypot was filled in


def signup(fields: dict[str, str]) -> Signup:
    """Check a subscribe form. Line breaks or control characters in any field are
    refused, not cleaned: what is stored is exactly what was typed."""
    raw = fields.get("email", "").strip()
    name = fields.get("name", "")
    bot = fields.get(HONEYPOT, "") != ""
    if not raw:
        raise FormError(400, "Please enter your email address.")
    if len(raw) > MAX_EMAIL:
        raise FormError(400, "That email address is too long.")
    if _CONTROL.search(raw):
        raise FormError(400, "An email address cannot contain line breaks or control characters.")
    try:
        email = normalise(raw)
    except SubscriberError as exc:
        raise FormError(400, _address_problem(exc.message)) from exc
    if len(name) > MAX_NAME:
        raise FormError(400, f"The name is too long (at most {MAX_NAME} characters).")
    if _CONTROL.search(name):
        raise FormError(400, "The name cannot contain line breaks or control characters.")
    try:
        name = clean_name(name)
    except SubscriberError as exc:
        raise FormError(400, exc.message) from exc
    return Signup(email, name, bot)


def _address_problem(message: str) -> str:
    """normalise() speaks to an operator and quotes the address back; the page
    says what to fix in words a reader knows (the field shows what they typed)."""
    if "exactly one '@'" in message:
        return "An email address has exactly one @, as in name@example.org."
    if "local part" in message:
        return (
            "The part before the @ can only have plain letters (a-z), digits, dots "
            "and !#$%&'*+/=?^_`{|}~- signs."
        )
    if "domain" in message:
        return "The part after the @ is not a domain name such as example.org."
    if "spaces" in message:
        return "An email address cannot contain spaces."
    if "longer" in message:
        return "That email address is too long."
    return "That does not look like an email address."


def one_click(body: bytes) -> bool:
    """RFC 8058: the body is `List-Unsubscribe=One-Click`, form-encoded (what Gmail
    and Yahoo send) or as a multipart/form-data field."""
    text = body.decode("utf-8", "replace")
    if text.strip() == ONE_CLICK:
        return True
    if 'name="List-Unsubscribe"' in text and "One-Click" in text:
        return True
    try:
        return dict(parse_qsl(text, keep_blank_values=True)).get("List-Unsubscribe") == "One-Click"
    except ValueError:
        return False


def token_from(request: Request, fields: dict[str, str] | None = None) -> str:
    """The token from the query string, else from a form field."""
    token = request.query_params.get("token", "")
    if not token and fields:
        token = fields.get("token", "")
    return token
