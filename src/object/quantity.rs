//! Canonical form of Kubernetes resource quantities (`1000m` → `1`, `0.5` → `500m`, `1024Mi` → `1Gi`).

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Binary,
    Decimal,
    Exponent,
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// Parse a quantity into nano-units and the format of its suffix.
fn parse(s: &str) -> Option<(i128, Format)> {
    let s = s.trim();
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if int_part.len() + frac_part.len() > 30 {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let f = frac_part.len() as i32;
    let (exp10, bin_pow, format): (i32, u32, Format) = match suffix {
        "Ki" => (0, 1, Format::Binary),
        "Mi" => (0, 2, Format::Binary),
        "Gi" => (0, 3, Format::Binary),
        "Ti" => (0, 4, Format::Binary),
        "Pi" => (0, 5, Format::Binary),
        "Ei" => (0, 6, Format::Binary),
        "n" => (-9, 0, Format::Decimal),
        "u" => (-6, 0, Format::Decimal),
        "m" => (-3, 0, Format::Decimal),
        "" => (0, 0, Format::Decimal),
        "k" => (3, 0, Format::Decimal),
        "M" => (6, 0, Format::Decimal),
        "G" => (9, 0, Format::Decimal),
        "T" => (12, 0, Format::Decimal),
        "P" => (15, 0, Format::Decimal),
        "E" => (18, 0, Format::Decimal),
        other => {
            let e = other.strip_prefix(['e', 'E'])?;
            (e.parse::<i32>().ok()?, 0, Format::Exponent)
        }
    };
    let mut value = mantissa.checked_mul(1024i128.checked_pow(bin_pow)?)?;
    let total = 9 + exp10 - f;
    if total >= 0 {
        value = value.checked_mul(pow10(total as u32))?;
    } else {
        let d = pow10((-total) as u32);
        value = (value + d - 1) / d; // rounds up, as the real parser does
    }
    Some((if neg { -value } else { value }, format))
}

/// The canonical string of a quantity, or None when it does not parse.
pub fn canonical(s: &str) -> Option<String> {
    let (nanos, format) = parse(s)?;
    if nanos == 0 {
        return Some("0".into());
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.abs();
    if format == Format::Binary && abs % pow10(9) == 0 {
        let bytes = abs / pow10(9);
        let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let mut k = 0;
        while k < 6 && bytes % 1024i128.pow(k as u32 + 1) == 0 {
            k += 1;
        }
        return Some(format!(
            "{sign}{}{}",
            bytes / 1024i128.pow(k as u32),
            suffixes[k]
        ));
    }
    // Decimal SI (also the fallback for fractional binary quantities).
    let suffixes = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];
    let mut best = 0usize;
    for (i, _) in suffixes.iter().enumerate() {
        if abs % pow10(3 * i as u32) == 0 {
            best = i;
        }
    }
    let n = abs / pow10(3 * best as u32);
    if format == Format::Exponent {
        let e = 3 * best as i32 - 9;
        return Some(if e == 0 {
            format!("{sign}{n}")
        } else {
            format!("{sign}{n}e{e}")
        });
    }
    Some(format!("{sign}{n}{}", suffixes[best]))
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_forms() {
        for (i, o) in [
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1024Mi", "1Gi"),
            ("128Mi", "128Mi"),
            ("100m", "100m"),
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("2", "2"),
            ("1000", "1k"),
            ("0", "0"),
            ("1e3", "1e3"),
            ("250m", "250m"),
            ("1n", "1n"),
            ("512Ki", "512Ki"),
            ("2048Ki", "2Mi"),
            ("1G", "1G"),
            ("1000M", "1G"),
        ] {
            assert_eq!(canonical(i).as_deref(), Some(o), "{i}");
        }
        assert_eq!(canonical("abc"), None);
    }
}
