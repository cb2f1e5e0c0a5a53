//! Validators for candidates the automaton found: checksums (Luhn, ISO 13616 mod-97),
//! numbering rules (SSA area/group/serial, card networks' prefixes and lengths) and context
//! (a number inside a longer number, an address inside a URL). Each takes the whole text and
//! the candidate's span, because context lies outside the span, and returns the span to report
//! or `None`.

use std::ops::Range;

/// The byte before `i`, if any.
fn before(text: &str, i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| text.as_bytes().get(j).copied())
}

/// The byte at `i`, if any.
fn at(text: &str, i: usize) -> Option<u8> {
    text.as_bytes().get(i).copied()
}

/// Whether the candidate at `span` continues a longer number: a digit and one of `seps`
/// right before it, or one of `seps` and a digit right after it.
fn inside_longer_number(text: &str, span: &Range<usize>, seps: &[u8]) -> bool {
    let sep_before = before(text, span.start).is_some_and(|b| seps.contains(&b));
    let digit_before = span
        .start
        .checked_sub(1)
        .and_then(|i| before(text, i))
        .is_some_and(|b| b.is_ascii_digit());
    let sep_after = at(text, span.end).is_some_and(|b| seps.contains(&b));
    let digit_after = at(text, span.end + 1).is_some_and(|b| b.is_ascii_digit());
    (sep_before && digit_before) || (sep_after && digit_after)
}

/// A US social security number: area 001-665 or 667-899, group 01-99, serial 0001-9999
/// (SSA rules; 9xx are ITINs, 666 is never issued), and not two numbers the SSA voided after
/// they were printed in advertising.
pub(crate) fn ssn(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(span.clone())?.as_bytes();
    let digits: Vec<u32> = s
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .collect();
    let [a1, a2, a3, g1, g2, s1, s2, s3, s4] = digits.as_slice() else {
        return None;
    };
    let area = a1 * 100 + a2 * 10 + a3;
    let group = g1 * 10 + g2;
    let serial = s1 * 1000 + s2 * 100 + s3 * 10 + s4;
    let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    let voided = matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999));
    let sep = *s.get(3)?;
    let seps: &[u8] = if sep == b' ' { b" -./" } else { b"-./" };
    (valid && !voided && !inside_longer_number(text, &span, seps)).then_some(span)
}

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if v > 9 {
            return false;
        }
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether `digits` starts like a number of a major card network and has one of its lengths
/// (Visa, Mastercard, American Express, Discover, Diners Club, JCB, UnionPay, Maestro).
pub fn card_network(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),
        5 => match p2 {
            51..=55 => n == 16,
            50 | 56..=58 => (13..=19).contains(&n),
            _ => false,
        },
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => match p2 {
            34 | 37 => n == 15,
            36 | 38 | 39 => (14..=19).contains(&n),
            30 => (300..=305).contains(&p3) && (14..=19).contains(&n),
            35 => (3528..=3589).contains(&p4) && (16..=19).contains(&n),
            _ => false,
        },
        6 => {
            let discover = p4 == 6011 || (644..=649).contains(&p3) || p2 == 65;
            if discover || p2 == 62 {
                (16..=19).contains(&n)
            } else {
                matches!(p2, 63 | 67) && (13..=19).contains(&n)
            }
        }
        _ => false,
    }
}

/// A payment card number: the longest prefix of the candidate that ends at a digit group,
/// has 13-19 digits, a network's prefix and length, and a valid Luhn digit. Groups written
/// with separators have 3 to 8 digits (a list of single digits is not a card). A number
/// continuing a decimal (`0.4111...`) is not one.
pub(crate) fn payment_card(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(span.clone())?.as_bytes();
    if inside_longer_number(text, &span, b".,") {
        return None;
    }
    let separated = s.iter().any(|b| !b.is_ascii_digit());
    let mut digits: Vec<u8> = Vec::with_capacity(19);
    // (byte end, digit count) after each group that could end a card number.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut group = 0usize;
    for (i, &b) in s.iter().enumerate() {
        if b.is_ascii_digit() {
            digits.push(b);
            group += 1;
            let last_of_group = s.get(i + 1).is_none_or(|n| !n.is_ascii_digit());
            if last_of_group {
                if separated && !(3..=8).contains(&group) {
                    // A group too short or too long ends every candidate here.
                    break;
                }
                cuts.push((i + 1, digits.len()));
                group = 0;
            }
        }
    }
    cuts.iter().rev().find_map(|&(end, count)| {
        let d = digits.get(..count)?;
        ((13..=19).contains(&count) && card_network(d) && luhn(d)).then_some(span.start..span.start + end)
    })
}

/// IBAN lengths by country (the SWIFT IBAN registry).
const IBAN_LENGTHS: [(&[u8; 2], usize); 89] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The IBAN length of `country`, if it issues IBANs.
pub fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|&(_, n)| n)
}

/// The ISO 13616 / ISO 7064 mod 97-10 check over an IBAN without spaces (upper case):
/// the first four characters moved to the end, letters as 10-35, the number mod 97 is 1.
pub fn iban_checksum(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, rest) = iban.split_at(4);
    let mut r: u32 = 0;
    for &c in rest.iter().chain(head) {
        match c {
            b'0'..=b'9' => r = (r * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => r = (r * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        }
    }
    r == 1
}

/// An IBAN: a known country, exactly its length (the candidate is cut there, so a word that
/// follows is not counted), spaces only every four characters, and a valid mod-97 checksum.
pub(crate) fn iban(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(span.clone())?.as_bytes();
    let len = iban_length(s.get(..2)?)?;
    let mut compact: Vec<u8> = Vec::with_capacity(len);
    let mut end = None;
    for (i, &b) in s.iter().enumerate() {
        if b == b' ' {
            if !compact.len().is_multiple_of(4) {
                return None;
            }
            continue;
        }
        compact.push(b);
        if compact.len() == len {
            end = Some(i + 1);
            break;
        }
    }
    let end = span.start + end?;
    if at(text, end).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    iban_checksum(&compact).then_some(span.start..end)
}

/// Characters of an e-mail address's local part.
fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Top-level "domains" that are file extensions: `icon@2x.png` is an asset, not an address.
const FILE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js"];

/// An e-mail address, unless it is the user part of a URL (`https://user@host/`), a file name
/// (`icon@2x.png`), or malformed (local part over 64 bytes, dots at its ends or doubled, domain
/// labels starting or ending with `-`). A candidate that is the tail of a longer local part
/// (found again after that one was rejected) is rejected too.
pub(crate) fn email(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(span.clone())?;
    let (local, domain) = s.split_once('@')?;
    // Where the local part really starts: extend left over local-part characters, then skip
    // the punctuation a local part cannot start with. A run longer than a local part may be
    // is no address either, so the walk stops there (and stays linear).
    let mut run = span.start;
    while before(text, run).is_some_and(local_char) && span.start - run <= 64 {
        run -= 1;
    }
    while at(text, run).is_some_and(|b| !b.is_ascii_alphanumeric()) && run < span.start {
        run += 1;
    }
    if run != span.start {
        return None;
    }
    // The URL's authority: from the last delimiter before the address, looking back no
    // further than any real authority reaches.
    let bytes = text.as_bytes();
    let floor = span.start.saturating_sub(2048);
    let mut segment_start = span.start;
    while segment_start > floor
        && bytes
            .get(segment_start - 1)
            .is_some_and(|&b| !b.is_ascii_whitespace() && !b"\"'<>()[]{},;".contains(&b))
    {
        segment_start -= 1;
    }
    let segment = bytes.get(segment_start..span.start)?;
    if let Some(i) = segment.windows(3).rposition(|w| w == b"://")
        && !segment
            .get(i + 3..)
            .is_some_and(|a| a.iter().any(|b| matches!(b, b'/' | b'?' | b'#')))
    {
        return None;
    }
    let local_ok =
        local.len() <= 64 && !local.starts_with('.') && !local.ends_with('.') && !local.contains("..");
    let labels_ok = domain.len() <= 253
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
    let tld = domain.rsplit('.').next().unwrap_or("");
    let file = FILE_EXTENSIONS.iter().any(|e| tld.eq_ignore_ascii_case(e));
    (local_ok && labels_ok && !file).then_some(span)
}

/// Whether `text` continues at `i` with `-` or `.` and a digit: the number goes on.
fn continues_number(text: &str, i: usize) -> bool {
    at(text, i).is_some_and(|b| b == b'-' || b == b'.') && at(text, i + 1).is_some_and(|b| b.is_ascii_digit())
}

/// A phone number: `+` and 8 to 15 digits (E.164), or a North American number. Not when it
/// continues a word or a longer number (`12-555-123-4567`), except after the North American
/// country code `1`. An international number is cut at the last digit group that leaves it
/// complete, so a number written right after it (`+44 20 7946 0958 536-22-1947`) is not
/// swallowed.
pub(crate) fn phone(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(span.clone())?.as_bytes();
    if before(text, span.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'+') {
        return None;
    }
    if s.first() == Some(&b'+') {
        let mut digits = 0;
        let mut cuts = Vec::new();
        for (i, b) in s.iter().enumerate() {
            if b.is_ascii_digit() {
                digits += 1;
                if s.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) {
                    cuts.push((span.start + i + 1, digits));
                }
            }
        }
        return cuts.iter().rev().find_map(|&(end, n)| {
            ((8..=15).contains(&n) && !continues_number(text, end)).then_some(span.start..end)
        });
    }
    // A number before it joined by `-` or `.` makes this the tail of a longer number, except
    // the North American country code.
    if before(text, span.start).is_some_and(|b| b == b'-' || b == b'.') {
        let d = span.start.checked_sub(1).and_then(|i| before(text, i));
        let dd = span.start.checked_sub(2).and_then(|i| before(text, i));
        let country_code_one = d == Some(b'1') && !dd.is_some_and(|b| b.is_ascii_alphanumeric());
        if d.is_some_and(|b| b.is_ascii_digit()) && !country_code_one {
            return None;
        }
    }
    (!continues_number(text, span.end)).then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_answers() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b"41111111x1111111"));
    }

    #[test]
    fn iban_known_answers() {
        assert!(iban_checksum(b"DE89370400440532013000"));
        assert!(iban_checksum(b"GB82WEST12345698765432"));
        assert!(!iban_checksum(b"GB82WEST12345698765433"));
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"US"), None);
        // The table is sorted, so each country appears once.
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
