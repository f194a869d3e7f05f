//! `resource.Quantity`: parsing (`100m`, `1.5Gi`, `2e3`) with Kubernetes'
//! errors, exact comparison and arithmetic, and the canonical string
//! Kubernetes serializes (`1000m` → `1`, `0.5` → `500m`, `1024Mi` → `1Gi`).
//!
//! A value is held exactly as `mantissa × 10^exp` with up to 38 significant
//! digits, rounded away from zero to nano units as Kubernetes does.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// How a quantity is written: the suffix family it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `12e6`.
    DecimalExponent,
    /// `12Mi`.
    BinarySI,
    /// `12M`, `100m`.
    DecimalSI,
}

/// Why a string is not a quantity, with Kubernetes' messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string does not have the quantity shape.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    /// The number cannot be represented.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is unknown.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Most significant digits a quantity holds (10^38 still fits an i128).
const MAX_DIGITS: usize = 38;
/// Values below a nano unit are rounded up to it.
const NANO_EXP: i32 = -9;
/// BinarySI values are capped at the largest int64.
const MAX_BINARY: i128 = i64::MAX as i128;

/// A Kubernetes resource quantity.
#[derive(Debug, Clone)]
pub struct Quantity {
    /// Value is `mantissa × 10^exp`; no trailing zeros in the mantissa, zero is `0 × 10^0`.
    mantissa: i128,
    exp: i32,
    format: Format,
    /// Kubernetes keeps an input that is already canonical verbatim.
    original: Option<String>,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn digits(m: i128) -> u32 {
    m.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1)
}

/// Moves factors of ten from the mantissa into the exponent.
fn normalize(mut m: i128, mut e: i32) -> (i128, i32) {
    if m == 0 {
        return (0, 0);
    }
    while m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    (m, e)
}

/// Rounds away from zero so the exponent is at least `min_exp`.
fn round_up_to(m: i128, e: i32, min_exp: i32) -> (i128, i32) {
    if m == 0 || e >= min_exp {
        return (m, e);
    }
    let drop = i64::from(min_exp) - i64::from(e);
    if drop >= i64::from(digits(m)) {
        return (m.signum(), min_exp);
    }
    // drop < digits(m) <= 39, so the power fits.
    let div = pow10(drop as u32).unwrap_or(i128::MAX);
    let (q, r) = (m / div, m % div);
    normalize(if r == 0 { q } else { q + m.signum() }, min_exp)
}

/// Splits a quantity into sign, integer digits, fraction digits and suffix
/// (Kubernetes' `parseQuantityString`).
fn split_quantity(s: &str) -> Result<(bool, &str, &str, &str), QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok((positive, "0", "", ""));
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == num_start { "0" } else { &s[num_start..pos] };
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    Ok((positive, num, denom, &s[suffix_start..]))
}

/// Maps a suffix to (base, exponent, format) (Kubernetes' `suffixer.interpret`).
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = dec {
        return Some((10, e, Format::DecimalSI));
    }
    let bin = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = bin {
        return Some((2, e, Format::BinarySI));
    }
    let rest = suffix.strip_prefix(['e', 'E']).filter(|r| !r.is_empty())?;
    rest.parse::<i32>().ok().map(|e| (10, e, Format::DecimalExponent))
}

/// Whether Kubernetes' fast parse path keeps the input string as the serialized form.
fn keeps_original(num: &str, denom: &str, exponent: i32, format: Format) -> bool {
    let shifted = format!("{num}{denom}");
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    match format {
        Format::BinarySI => {
            let precision = 14 - num.len() as i32 - exponent * 3 / 10;
            denom.is_empty()
                && precision >= 0
                && value.checked_mul(1i64 << exponent).is_some()
                && exponent % 10 == 0
                && value & 7 != 0
        }
        _ => {
            let scale = i64::from(exponent) - denom.len() as i64;
            num.len() + denom.len() <= 18
                && scale >= i64::from(NANO_EXP)
                && scale % 3 == 0
                && !shifted.ends_with("000")
                && !shifted.starts_with('0')
        }
    }
}

impl Quantity {
    /// Parses a quantity string as `resource.ParseQuantity` does.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Quantity {
                mantissa: 0,
                exp: 0,
                format: Format::DecimalSI,
                original: Some(s.into()),
            });
        }
        let (positive, num, denom, suffix) = split_quantity(s)?;
        let (base, exponent, mut format) = interpret_suffix(suffix).ok_or(QuantityError::Suffix)?;

        let all = format!("{num}{denom}");
        let trimmed = all.trim_start_matches('0');
        let significant = trimmed.trim_end_matches('0');
        let mut exp = -(denom.len() as i32) + (trimmed.len() - significant.len()) as i32;
        let mut mantissa: i128 = if significant.is_empty() {
            0
        } else if significant.len() > MAX_DIGITS {
            return Err(QuantityError::Numeric);
        } else {
            significant.parse().map_err(|_| QuantityError::Numeric)?
        };
        if base == 10 {
            // Far below a nano unit everything rounds to 1n, so clamp there instead of overflowing.
            let sum = (i64::from(exp) + i64::from(exponent)).max(i64::from(NANO_EXP) - 64);
            exp = i32::try_from(sum).map_err(|_| QuantityError::Numeric)?;
        } else {
            mantissa = mantissa.checked_mul(1i128 << exponent).ok_or(QuantityError::Numeric)?;
        }
        let (mut mantissa, mut exp) = round_up_to(mantissa, exp, NANO_EXP);
        (mantissa, exp) = normalize(mantissa, exp);
        if digits(mantissa) as usize > MAX_DIGITS {
            return Err(QuantityError::Numeric);
        }
        if format == Format::BinarySI {
            let q = Quantity {
                mantissa,
                exp,
                format,
                original: None,
            };
            if q.cmp_i128(MAX_BINARY) == Ordering::Greater {
                (mantissa, exp) = normalize(MAX_BINARY, 0);
            } else if mantissa != 0 && exp < 0 {
                // Fractions below one are shown in decimal.
                let below_one = digits(mantissa) as i32 + exp <= 0;
                if below_one {
                    format = Format::DecimalSI;
                }
            }
        }
        if !positive {
            mantissa = -mantissa;
        }
        let original = keeps_original(num, denom, exponent, format).then(|| s.to_string());
        Ok(Quantity {
            mantissa,
            exp,
            format,
            original,
        })
    }

    /// Reads a quantity from JSON: a string, a number, or null (zero), as `UnmarshalJSON` accepts.
    pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::Null => Ok(Quantity::from_value(0, Format::DecimalSI)),
            Value::String(s) => Quantity::parse(s.trim()),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QuantityError::FormatWrong),
        }
    }

    /// `value` units (`resource.NewQuantity`).
    pub fn from_value(value: i64, format: Format) -> Quantity {
        let (mantissa, exp) = normalize(value as i128, 0);
        Quantity {
            mantissa,
            exp,
            format,
            original: None,
        }
    }

    /// `milli` thousandths (`resource.NewMilliQuantity`).
    pub fn from_milli(milli: i64, format: Format) -> Quantity {
        let (mantissa, exp) = normalize(milli as i128, -3);
        Quantity {
            mantissa,
            exp,
            format,
            original: None,
        }
    }

    /// The format it serializes in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// `ceil(q / 10^scale)` rounded away from zero, saturating at the i64 range (`ScaledValue`).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let (m, e) = round_up_to(self.mantissa, self.exp.saturating_sub(scale), 0);
        let v = match u32::try_from(e).ok().and_then(pow10) {
            Some(p) => m.checked_mul(p),
            None if m == 0 => Some(0),
            None => None,
        };
        match v {
            Some(v) => v.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            None if m < 0 => i64::MIN,
            None => i64::MAX,
        }
    }

    /// The value in whole units, rounded away from zero (`Value`).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded away from zero (`MilliValue`).
    pub fn as_milli(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value as a float (approximate for very large or precise values).
    pub fn as_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exp)
    }

    fn cmp_i128(&self, v: i128) -> Ordering {
        let (m, e) = normalize(v, 0);
        cmp_values(self.mantissa, self.exp, m, e)
    }

    /// Exact sum; the result takes `other`'s format when `self` is zero. `None` past 38 digits.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let exp = self.exp.min(other.exp);
        let shift = |e: i32| u32::try_from(i64::from(e) - i64::from(exp)).ok().and_then(pow10);
        let a = self.mantissa.checked_mul(shift(self.exp)?)?;
        let b = other.mantissa.checked_mul(shift(other.exp)?)?;
        let (mantissa, exp) = normalize(a.checked_add(b)?, exp);
        let format = if self.is_zero() { other.format } else { self.format };
        Some(Quantity {
            mantissa,
            exp,
            format,
            original: None,
        })
    }

    /// Exact difference; the result takes `other`'s format when `self` is zero.
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        self.checked_add(&other.negated())
    }

    /// The negated value.
    pub fn negated(&self) -> Quantity {
        Quantity {
            mantissa: -self.mantissa,
            exp: self.exp,
            format: self.format,
            original: None,
        }
    }

    /// The canonical string (what Kubernetes serializes).
    pub fn canonical(&self) -> String {
        if let Some(s) = &self.original {
            return s.clone();
        }
        if self.mantissa == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySI {
            let small = self.cmp_i128(-1024) == Ordering::Greater && self.cmp_i128(1024) == Ordering::Less;
            // Binary forms need a whole number; otherwise fall back to decimal.
            if small || self.exp < 0 {
                format = Format::DecimalSI;
            } else if let Some(s) = self.base1024_string() {
                return s;
            } else {
                format = Format::DecimalSI;
            }
        }
        self.base10_string(format)
    }

    /// `mantissa × 10^exp` with the exponent lowered to a multiple of three and a suffix.
    fn base10_string(&self, format: Format) -> String {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let mut digits = self.mantissa.unsigned_abs().to_string();
        let shift = self.exp.rem_euclid(3);
        let mut exp = self.exp - shift;
        digits.push_str(&"0".repeat(shift as usize));
        let suffix = match format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            _ => {
                if exp > 18 {
                    // Beyond exa there is no suffix; write the extra zeros out.
                    digits.push_str(&"0".repeat((exp - 18) as usize));
                    exp = 18;
                }
                match exp {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    18 => "E",
                    _ => "",
                }
                .to_string()
            }
        };
        format!("{sign}{digits}{suffix}")
    }

    /// The whole value in the largest binary unit that divides it, if it fits.
    fn base1024_string(&self) -> Option<String> {
        let value = self.mantissa.checked_mul(pow10(u32::try_from(self.exp).ok()?)?)?;
        let mut amount = value;
        let mut units = 0;
        while units < 6 && amount % 1024 == 0 {
            amount /= 1024;
            units += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][units];
        Some(format!("{amount}{suffix}"))
    }
}

/// Compares `ma × 10^ea` with `mb × 10^eb` exactly.
fn cmp_values(ma: i128, ea: i32, mb: i128, eb: i32) -> Ordering {
    let (sa, sb) = (ma.signum(), mb.signum());
    if sa != sb || sa == 0 {
        return sa.cmp(&sb);
    }
    let (ua, ub) = (ma.unsigned_abs(), mb.unsigned_abs());
    let (da, db) = (digits(ma) as i64 + ea as i64, digits(mb) as i64 + eb as i64);
    let magnitude = if da != db {
        da.cmp(&db)
    } else {
        // Same leading position, so the shift is at most 38 digits; an overflow means "larger".
        let scaled = |u: u128, shift: i64| 10u128.checked_pow(shift as u32).and_then(|p| u.checked_mul(p));
        if ea >= eb {
            scaled(ua, i64::from(ea) - i64::from(eb)).map_or(Ordering::Greater, |x| x.cmp(&ub))
        } else {
            scaled(ub, i64::from(eb) - i64::from(ea)).map_or(Ordering::Less, |x| ua.cmp(&x))
        }
    };
    if sa < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_values(self.mantissa, self.exp, other.mantissa, other.exp)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("0m", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("0.5", "500m"),
            ("0.1", "100m"),
            ("1.5", "1500m"),
            ("1.0", "1"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("10", "10"),
            ("1k", "1k"),
            ("1M", "1M"),
            ("1000M", "1G"),
            ("1E", "1E"),
            ("1n", "1n"),
            ("1u", "1u"),
            ("0.000000001", "1n"),
            ("0.0000000001", "1n"),
            ("1.0000000001", "1000000001n"),
            ("128Mi", "128Mi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("1023Ki", "1023Ki"),
            ("1024Ki", "1Mi"),
            ("0.0001Ki", "102400u"),
            ("2e3", "2e3"),
            // Already-canonical inputs are kept verbatim, as Kubernetes does.
            ("2E3", "2E3"),
            ("1.5e3", "1500"),
            ("1e-3", "1e-3"),
            ("12e6", "12e6"),
            ("-100m", "-100m"),
            ("-1.5Gi", "-1536Mi"),
            (".5", "500m"),
            ("1.", "1."),
            ("0100m", "0100m"),
            ("+1", "+1"),
            ("8Ei", "9223372036854775807"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn parse_errors() {
        let format = QuantityError::FormatWrong;
        let cases = [
            ("", format.clone()),
            ("abc", format.clone()),
            ("1x", format.clone()),
            ("1 Gi", format.clone()),
            ("1Gi ", format.clone()),
            ("1.2.3", format.clone()),
            ("1kk", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1i", QuantityError::Suffix),
            ("1Mii", QuantityError::Suffix),
        ];
        for (input, want) in cases {
            assert_eq!(Quantity::parse(input).unwrap_err(), want, "{input:?}");
        }
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(QuantityError::Suffix.to_string(), "unable to parse quantity's suffix");
    }

    #[test]
    fn numeric_views() {
        let cases = [
            ("100m", 100, 1),
            ("1", 1000, 1),
            ("1.5", 1500, 2),
            ("1Ki", 1_024_000, 1024),
            ("1n", 1, 1),
            ("-1.5", -1500, -2),
            ("0", 0, 0),
            ("128Mi", 134_217_728_000, 134_217_728),
        ];
        for (input, milli, value) in cases {
            let v = q(input);
            assert_eq!((v.as_milli(), v.value()), (milli, value), "{input:?}");
        }
        assert!((q("1.5Gi").as_f64() - 1_610_612_736.0).abs() < 1e-3);
        assert!((q("250m").as_f64() - 0.25).abs() < 1e-12);
        assert_eq!(q("1e30").value(), i64::MAX);
        // Extreme exponents stay exact or round to a nano unit without overflowing.
        assert_eq!(q("1.5e-2147483648").to_string(), "1e-9");
        assert_eq!(q("0.0000000000001").to_string(), "1n");
        assert_eq!(q("1e-12").to_string(), "1e-9");
        assert_eq!(q("-1e2147483647").value(), i64::MIN);
    }

    #[test]
    fn compares_exactly() {
        let cases = [
            ("1", "1000m", Ordering::Equal),
            ("1Ki", "1024", Ordering::Equal),
            ("1k", "1Ki", Ordering::Less),
            ("500m", "0.5", Ordering::Equal),
            ("-1", "1", Ordering::Less),
            ("-2", "-1", Ordering::Less),
            ("1e3", "999", Ordering::Greater),
            ("1n", "0", Ordering::Greater),
            ("128Mi", "0.125Gi", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(q(a).cmp(&q(b)), want, "{a} vs {b}");
        }
        assert_eq!(q("1"), q("1000m"));
    }

    #[test]
    fn arithmetic_and_constructors() {
        let sum = q("100m").checked_add(&q("1.9")).unwrap();
        assert_eq!(sum.to_string(), "2");
        let diff = q("1Gi").checked_sub(&q("512Mi")).unwrap();
        assert_eq!(diff.to_string(), "512Mi");
        assert_eq!(
            Quantity::from_value(0, Format::DecimalSI)
                .checked_add(&q("1Mi"))
                .unwrap()
                .to_string(),
            "1Mi"
        );
        assert_eq!(Quantity::from_milli(250, Format::DecimalSI).to_string(), "250m");
        assert_eq!(Quantity::from_milli(2000, Format::DecimalSI).to_string(), "2");
        assert_eq!(Quantity::from_value(2048, Format::BinarySI).to_string(), "2Ki");
        assert_eq!(Quantity::from_value(1000, Format::BinarySI).to_string(), "1k");
        assert_eq!(q("1e30").checked_add(&q("1n")), None);
    }

    #[test]
    fn reads_json() {
        assert_eq!(Quantity::from_json(&json!("  2Gi ")).unwrap().to_string(), "2Gi");
        assert_eq!(Quantity::from_json(&json!(0.5)).unwrap().to_string(), "500m");
        assert_eq!(Quantity::from_json(&json!(3)).unwrap().to_string(), "3");
        assert!(Quantity::from_json(&Value::Null).unwrap().is_zero());
        assert_eq!(
            Quantity::from_json(&json!("x")).unwrap_err(),
            QuantityError::FormatWrong
        );
        assert_eq!(
            Quantity::from_json(&json!(true)).unwrap_err(),
            QuantityError::FormatWrong
        );
    }
}
