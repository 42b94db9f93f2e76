#!/usr/bin/env python3
"""Regenerates corpus.tsv: what libphonenumber (its Python port, `phonenumbers`) answers for phone
numbers typed the ways leads type them, read with a default region.

Used by crates/identity/tests/phone_parity.rs (issue 14: parity with libphonenumber).

    pip install phonenumbers
    python3 crates/identity/tests/data/phones/generate.py > crates/identity/tests/data/phones/corpus.tsv

Output: `#` comment lines (the first names the phonenumbers version), a column line, then one row
per (region, input), sorted and without duplicates:

    region <TAB> input <TAB> valid (1 or 0) <TAB> e164 (or "-" when not valid)

"valid" is `phonenumbers.parse(input, region)` followed by `is_valid_number`; a parse error is not
valid. The output depends only on the phonenumbers version, never on the machine or the clock.
"""

import sys

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

# The number types that have example numbers in the metadata (UNKNOWN has none).
TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]

# A default region used to read the forms that carry their own country code, so that a number is
# also read with a region that is not its own.
FOREIGN_DEFAULT = {"US": "GB"}

# The examples from issue 14, and other inputs that are easy to get wrong: shared calling codes,
# national numbers that begin with their own country code, trunk prefixes, vanity letters, IDD
# prefixes other than 00, and inputs that are not phone numbers at all.
HARD_CASES = [
    ("393 123 4567", "IT"),
    ("+7 800 123-45-67", "KZ"),
    ("8 801 123 4567", "BY"),
    ("590271234", "BL"),
    ("4915123456789", "DE"),
    ("55800123456", "BR"),
    ("+7 701 123 4567", "RU"),
    ("+7 912 345 6789", "KZ"),
    ("8 (912) 345-67-89", "RU"),
    ("8 (701) 123-45-67", "KZ"),
    ("+590 690 00 12 34", "MF"),
    ("+590 690 00 12 34", "GP"),
    ("0690 00 12 34", "BL"),
    ("+1 242 359 1234", "US"),
    ("+1 204 234 5678", "US"),
    ("(204) 234-5678", "CA"),
    ("+44 7400 123456", "JE"),
    ("07797 123456", "JE"),
    ("+44 (0)20 7946 0958", "US"),
    ("+44 020 7946 0958", "GB"),
    ("0044 20 7946 0958", "FR"),
    ("011 44 20 7946 0958", "US"),
    ("+011 44 20 7946 0958", "US"),
    ("00 33 6 12 34 56 78", "DE"),
    ("+33 (0)6 12 34 56 78", "FR"),
    ("0033 06 12 34 56 78", "FR"),
    ("33612345678", "FR"),
    ("336 12 34 56 78", "FR"),
    ("4930123456", "DE"),
    ("49 30 123456", "DE"),
    ("030 123456", "DE"),
    ("0 030 123456", "DE"),
    ("3912345678", "IT"),
    ("39 06 1234 5678", "IT"),
    ("06 1234 5678", "IT"),
    ("+39 06 1234 5678", "IT"),
    ("1 213 373 4253", "US"),
    ("11 213 373 4253", "US"),
    ("1-800-FLOWERS", "US"),
    ("+1 (800) FLOWERS", "US"),
    ("tel:+1-213-373-4253", "US"),
    ("tel:213-373-4253;phone-context=+1", "US"),
    ("+1 213 373 4253 ext 7", "US"),
    ("213.373.4253 x12", "US"),
    ("+91 98765 43210", "IN"),
    ("098765 43210", "IN"),
    ("919876543210", "IN"),
    ("+86 138 0013 8000", "CN"),
    ("8613800138000", "CN"),
    ("+55 11 91234-5678", "BR"),
    ("(11) 91234-5678", "BR"),
    ("0 xx 11 91234-5678", "BR"),
    ("5511912345678", "BR"),
    ("+61 4 1234 5678", "AU"),
    ("0011 61 4 1234 5678", "AU"),
    ("+52 1 55 1234 5678", "MX"),
    ("044 55 1234 5678", "MX"),
    ("+375 29 123 4567", "BY"),
    ("8 029 123 4567", "BY"),
    ("+82 10 1234 5678", "KR"),
    ("+81 90 1234 5678", "JP"),
    ("+7 (495) 123-45-67", "RU"),
    ("8 800 123 45 67", "RU"),
    ("+262 692 12 34 56", "YT"),
    ("+262 269 61 12 34", "RE"),
    ("+47 79 12 34 56", "SJ"),
    ("+358 18 12345", "AX"),
    # Not numbers, too short, too long, letters, empty-ish.
    ("", "US"),
    ("   ", "US"),
    ("+", "US"),
    ("abc", "US"),
    ("n/a", "GB"),
    ("phone", "FR"),
    ("12", "US"),
    ("123", "DE"),
    ("+1 2", "US"),
    ("+44 12", "GB"),
    ("+999 123 456 789", "US"),
    ("+0 123 456 7890", "US"),
    ("123456789012345678", "US"),
    ("+1 213 373 4253 1234 5678", "US"),
    ("+49 30 1234567890123456", "DE"),
    ("213-373-4253-9999-9999", "US"),
    ("0000000000", "US"),
    ("1111111111", "US"),
    ("+1 000 000 0000", "US"),
    ("555-0100", "US"),
    # Input length: libphonenumber reads at most 250 characters.
    ("213-373-4253" + " " * 238, "US"),
    ("213-373-4253" + " " * 239, "US"),
    ("1" * 251, "US"),
    # Digits from other scripts, full-width signs, vanity letters, tel: URIs, extensions.
    ("\u0660\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "FR"),
    ("\uff0b\uff14\uff14 20 7946 0958", "US"),
    ("\u0968\u0967\u0969 \u0969\u096d\u0969 \u096a\u0968\u096b\u0969", "US"),
    ("1-800-FLOWERS", "US"),
    ("0800 FLOWERS", "GB"),
    ("tel:+1-213-373-4253;ext=12", "US"),
    ("tel:373-4253;phone-context=+1-213", "US"),
    ("tel:373-4253;phone-context=example.com", "US"),
    ("213.373.4253 x99", "US"),
    ("213 373 4253 #99", "US"),
    ("+44 (0) 20 7946 0958", "DE"),
    ("0044 20 7946 0958", "US"),
    ("011 44 20 7946 0958", "GB"),
    ("+", "US"),
    ("++12133734253", "US"),
    ("+1 213 373 4253 +1 213 373 4253", "US"),
]


def reference(raw, region):
    """(valid, e164) as libphonenumber says for this input and default region."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return False, None
    if not phonenumbers.is_valid_number(number):
        return False, None
    return True, phonenumbers.format_number(number, PhoneNumberFormat.E164)


def digits(text):
    return "".join(c for c in text if c.isdigit())


def typed_forms(number):
    """The ways a person may type this number (a parsed, valid example)."""
    cc = str(number.country_code)
    nsn = phonenumbers.national_significant_number(number)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    head, tail = nsn[:3], nsn[3:]
    own = [
        national,
        digits(national),
        national.replace(" ", "-"),
        international,
        international.replace(" ", "-"),
        e164,
        "00" + cc + nsn,
        "00 " + international[1:],
        nsn,
        cc + nsn,
        cc + " " + nsn,
        "(+" + cc + ") " + nsn,
        "+" + cc + " (" + head + ") " + tail,
        "(" + head + ") " + tail,
        international + " ext. 123",
        national + " ext. 123",
    ]
    foreign = [international, e164, "00" + cc + nsn]
    return own, foreign


def main(out):
    rows = {}

    def add(raw, region):
        # A tab or a line break would break the TSV; none of the forms above has one.
        assert "\t" not in raw and "\n" not in raw, raw
        rows[(region, raw)] = reference(raw, region)

    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        foreign_region = FOREIGN_DEFAULT.get(region, "US")
        examples = []
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None and example not in examples:
                examples.append(example)
        for example in examples:
            own, foreign = typed_forms(example)
            for raw in own:
                add(raw, region)
            for raw in foreign:
                add(raw, foreign_region)
        invalid = phonenumbers.invalid_example_number(region)
        if invalid is not None:
            nsn = phonenumbers.national_significant_number(invalid)
            add(nsn, region)
            add("+" + str(invalid.country_code) + nsn, region)

    # Non-geographic calling codes (+800, +870, …), read with a geographic default region.
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is None:
            continue
        _own, foreign = typed_forms(example)
        for raw in foreign:
            add(raw, "US")

    for raw, region in HARD_CASES:
        add(raw, region)

    out.write("# libphonenumber reference answers: phonenumbers %s\n" % phonenumbers.__version__)
    out.write("# regenerate: python3 crates/identity/tests/data/phones/generate.py > corpus.tsv\n")
    out.write("region\tinput\tvalid\te164\n")
    for (region, raw), (valid, e164) in sorted(rows.items()):
        out.write("%s\t%s\t%d\t%s\n" % (region, raw, 1 if valid else 0, e164 or "-"))


if __name__ == "__main__":
    main(sys.stdout)
