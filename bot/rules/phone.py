"""Mainland China mobile numbers: normalisation to E.164 and masking for display."""

from __future__ import annotations

import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from bot.rules.errors import PhoneInputError

CN_COUNTRY_CODE = 86
# Separators people type or paste between digit groups; anything else (letters included) is refused,
# because phonenumbers would otherwise read letters as a vanity keypad number.
_ALLOWED_PUNCTUATION = frozenset(" +-()./")
# Longer than any phone number with generous spacing; refusing early keeps parsing cheap.
_MAX_PHONE_TEXT = 32


def _is_cn_mobile_shape(national: str) -> bool:
    return len(national) == 11 and national.startswith("1")


def normalize_mobile(text: str, region: str = "CN") -> str:
    """Return a mainland China mobile number in E.164 ("+8613800138000") or raise PhoneInputError.

    Accepts spaces, dashes, a "+86" or "0086" prefix and full-width digits. `region` is only the default
    for numbers typed without a country prefix; the number itself must still be a CN mobile.
    """
    if not isinstance(text, str) or len(text) > _MAX_PHONE_TEXT:
        raise PhoneInputError("not_a_number")
    # NFKC folds full-width digits and "＋" to ASCII, which phonenumbers expects.
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned or not any(ch.isdigit() for ch in cleaned):
        raise PhoneInputError("not_a_number")
    if any(not (ch in _ALLOWED_PUNCTUATION or (ch.isascii() and ch.isdigit())) for ch in cleaned):
        raise PhoneInputError("not_a_number")
    try:
        number = phonenumbers.parse(cleaned, region)
    except NumberParseException:
        raise PhoneInputError("not_a_number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneInputError("invalid")
    if number.country_code != CN_COUNTRY_CODE or phonenumbers.region_code_for_number(number) != "CN":
        raise PhoneInputError("not_cn")
    national = str(number.national_number)
    kind = phonenumbers.number_type(number)
    # The metadata sometimes cannot tell a mobile from a landline; in China only mobiles are 11 digits
    # starting with 1, so that shape settles FIXED_LINE_OR_MOBILE and guards MOBILE too.
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE) or not _is_cn_mobile_shape(
        national
    ):
        raise PhoneInputError("not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """Mask a phone for display, keeping the first three and last four digits: "138****8000".

    Never raises: it runs when showing records, where a malformed stored value must not break the screen.
    """
    digits = "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
    if digits.startswith(str(CN_COUNTRY_CODE)) and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 8:
        # Too short to keep both ends without revealing most of it.
        return "****"
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
