use std::fmt;

use serde::{Deserialize, Serialize};

use super::{fold_full_width, FieldError};

const INVALID_MOBILE: &str = "invalid_mobile";
const LANDLINE_NOT_MOBILE: &str = "landline_not_mobile";
const INVALID_LANDLINE: &str = "invalid_landline";
const INVALID_PHONE: &str = "invalid_phone";

/// A mobile number in E.164 form: `+86` and 11 digits starting `13`–`19` for mainland China, or `+`
/// and 8–15 digits for a number that was written with an international prefix (`+852 …`, `001 …`).
/// Outside mainland China mobiles and landlines cannot be told apart by shape, so any number written
/// with a foreign country code is accepted as a mobile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mobile(String);

/// A mainland landline with its area code, normalised to `+86-<area>-<local>` and, when there is one,
/// `-<extension>`: `+86-10-62345678`, `+86-755-12345678-123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Landline(String);

/// A number from a column that may hold either kind ("电话"), classified by its shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phone {
    Mobile(Mobile),
    Landline(Landline),
}

impl Mobile {
    /// Accepts mainland mobiles with or without `+86`/`86`/`0086`, in full-width digits, with spaces,
    /// dashes and brackets anywhere; rejects a mainland landline with `landline_not_mobile` so an
    /// import can say why rather than just "invalid".
    pub fn parse(raw: &str) -> Result<Mobile, FieldError> {
        let dialled = Dialled::scan(raw)
            .map_err(|m| FieldError::new(INVALID_MOBILE, format!("mobile number {m}")))?;
        match dialled.mobile() {
            Ok(m) => Ok(m),
            Err(_) if dialled.landline().is_ok() => Err(FieldError::new(
                LANDLINE_NOT_MOBILE,
                "number is a mainland landline (area code and local number), not a mobile",
            )),
            Err(message) => Err(FieldError::new(INVALID_MOBILE, message)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn is_mainland(&self) -> bool {
        self.0.starts_with("+86")
    }
}

impl Landline {
    /// Accepts `010-62345678`, `(010)62345678`, `0755 1234 5678`, `+86-10-62345678`,
    /// `86 755 12345678`, with an optional extension after `-`, `转`, `分机`, `ext`, `x` or `#`.
    /// A number without an area code is rejected: it cannot be dialled from another city.
    pub fn parse(raw: &str) -> Result<Landline, FieldError> {
        let dialled = Dialled::scan(raw)
            .map_err(|m| FieldError::new(INVALID_LANDLINE, format!("landline number {m}")))?;
        dialled
            .landline()
            .map_err(|m| FieldError::new(INVALID_LANDLINE, m))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The area code without the trunk `0`: `10`, `21`, `755`.
    pub fn area_code(&self) -> &str {
        self.0.split('-').nth(1).unwrap_or_default()
    }

    pub fn local_number(&self) -> &str {
        self.0.split('-').nth(2).unwrap_or_default()
    }

    pub fn extension(&self) -> Option<&str> {
        self.0.split('-').nth(3)
    }
}

impl Phone {
    /// A mainland mobile or any number with a foreign country code becomes `Mobile`; a mainland number
    /// with an area code becomes `Landline`; anything else is `invalid_phone`.
    pub fn parse(raw: &str) -> Result<Phone, FieldError> {
        let dialled = Dialled::scan(raw)
            .map_err(|m| FieldError::new(INVALID_PHONE, format!("phone number {m}")))?;
        let mobile_problem = match dialled.mobile() {
            Ok(m) => return Ok(Phone::Mobile(m)),
            Err(message) => message,
        };
        let landline_problem = match dialled.landline() {
            Ok(l) => return Ok(Phone::Landline(l)),
            Err(message) => message,
        };
        let message = if dialled.looks_mobile() {
            mobile_problem
        } else {
            landline_problem
        };
        Err(FieldError::new(INVALID_PHONE, message))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Phone::Mobile(m) => m.as_str(),
            Phone::Landline(l) => l.as_str(),
        }
    }
}

/// What was dialled, with the formatting taken away.
struct Dialled {
    /// Written with `+` or `00`; `digits` then start with the country code.
    international: bool,
    digits: String,
    /// The runs of digits as written, to tell a dash-separated extension (`010-62345678-123`) from
    /// the number itself.
    groups: Vec<String>,
    /// An extension given after an explicit marker (`转`, `ext`, …).
    extension: Option<String>,
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\u{a0}' | '-' | '.' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}'
    )
}

/// Splits `raw` at the first extension marker, if any.
fn split_extension(raw: &str) -> (&str, Option<&str>) {
    let lower = raw.to_ascii_lowercase();
    let markers = ["转", "分机", "ext", "x", "#"];
    let found = markers
        .iter()
        .filter_map(|m| lower.find(m).map(|at| (at, m.len())))
        .min_by_key(|(at, _)| *at);
    match found {
        Some((at, len)) => (&raw[..at], Some(&raw[at + len..])),
        None => (raw, None),
    }
}

impl Dialled {
    /// On failure returns the end of a sentence starting with the kind of number.
    fn scan(raw: &str) -> Result<Dialled, String> {
        let folded = fold_full_width(raw);
        let (number, extension) = split_extension(folded.trim());
        let extension = match extension {
            None => None,
            Some(ext) => {
                let ext = ext.trim_matches(|c: char| is_separator(c) || c == ':');
                if ext.is_empty() || ext.len() > 6 || !ext.chars().all(|c| c.is_ascii_digit()) {
                    return Err("has an extension that is not 1 to 6 digits".into());
                }
                Some(ext.to_owned())
            }
        };
        let mut international = false;
        let mut groups: Vec<String> = Vec::new();
        let mut in_group = false;
        for c in number.chars() {
            if c.is_ascii_digit() {
                if !in_group {
                    groups.push(String::new());
                    in_group = true;
                }
                groups.last_mut().expect("a group was just pushed").push(c);
            } else if is_separator(c) {
                in_group = false;
            } else if c == '+' && !international && groups.is_empty() {
                international = true;
            } else {
                return Err("contains characters other than digits, spaces, dashes, brackets and a leading +".into());
            }
        }
        let mut digits: String = groups.concat();
        if digits.is_empty() {
            return Err("has no digits".into());
        }
        if !international && digits.starts_with("00") {
            international = true;
            digits.drain(..2);
            if digits.is_empty() {
                return Err("has nothing after the international prefix".into());
            }
        }
        Ok(Dialled {
            international,
            digits,
            groups,
            extension,
        })
    }

    /// Whether a failed parse is best explained as a mobile problem: the number starts like a
    /// mainland mobile, or carries a foreign country code.
    fn looks_mobile(&self) -> bool {
        let national = self.digits.strip_prefix("86").unwrap_or(&self.digits);
        (self.international && !self.digits.starts_with("86"))
            || (national.starts_with('1') && !national.starts_with("10"))
    }

    fn mobile(&self) -> Result<Mobile, String> {
        if self.extension.is_some() {
            return Err("mobile number has an extension; mobiles have none".into());
        }
        let digits = self.digits.as_str();
        if self.international {
            if let Some(national) = digits.strip_prefix("86") {
                return mainland_mobile(national);
            }
            if digits.starts_with('0') {
                return Err("international number has a country code starting with 0".into());
            }
            if !(8..=15).contains(&digits.len()) {
                return Err(format!(
                    "international number has {} digits; with the country code it must have 8 to 15",
                    digits.len()
                ));
            }
            return Ok(Mobile(format!("+{digits}")));
        }
        if let Some(national) = digits
            .strip_prefix("86")
            .filter(|n| mainland_mobile(n).is_ok())
        {
            return mainland_mobile(national);
        }
        mainland_mobile(digits)
    }

    fn landline(&self) -> Result<Landline, String> {
        if let Some(ext) = &self.extension {
            let (area, local) = mainland_landline(self.international, &self.digits)?;
            return Ok(Landline::from_parts(area, local, Some(ext)));
        }
        // A last group written apart from a complete local number is an extension
        // ("020-8765432-1"); otherwise the groups are only spacing ("0755 1234 5678"), unless reading
        // them as one number fails.
        let dash_extension = match self.groups.as_slice() {
            [.., local, ext] if ext.len() <= 6 => {
                let head = self.digits.strip_suffix(ext.as_str()).unwrap_or_default();
                mainland_landline(self.international, head)
                    .ok()
                    .map(|(area, head_local)| {
                        (area, head_local, ext, head_local.len() == local.len())
                    })
            }
            _ => None,
        };
        match (
            dash_extension,
            mainland_landline(self.international, &self.digits),
        ) {
            (Some((area, local, ext, true)), _) | (Some((area, local, ext, false)), Err(_)) => {
                Ok(Landline::from_parts(area, local, Some(ext)))
            }
            (_, Ok((area, local))) => Ok(Landline::from_parts(area, local, None)),
            (None, Err(problem)) => Err(problem),
        }
    }
}

fn mainland_mobile(national: &str) -> Result<Mobile, String> {
    if national.len() != 11 {
        return Err(format!(
            "mobile number has {} digits; mainland mobiles have 11",
            national.len()
        ));
    }
    if !matches!(national.as_bytes(), [b'1', b'3'..=b'9', ..]) {
        return Err(
            "mobile number has 11 digits but does not start with 13 to 19 as mainland mobiles do"
                .into(),
        );
    }
    Ok(Mobile(format!("+86{national}")))
}

const NO_AREA_CODE: &str =
    "landline number has no area code; write it with one, such as 010 or 0755";

/// Splits a mainland number into area code (without trunk 0) and local number.
fn mainland_landline(international: bool, digits: &str) -> Result<(&str, &str), String> {
    let national = if international {
        let Some(rest) = digits.strip_prefix("86") else {
            return Err("landline number has a country code other than +86; only mainland landlines are recognised".into());
        };
        // "+86 (0)10 …" keeps the trunk prefix by habit.
        rest.strip_prefix('0').unwrap_or(rest)
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else if let Some(rest) = digits.strip_prefix("86") {
        let rest = rest.strip_prefix('0').unwrap_or(rest);
        if split_area_code(rest).is_err() {
            return Err(NO_AREA_CODE.into());
        }
        rest
    } else {
        return Err(NO_AREA_CODE.into());
    };
    split_area_code(national)
}

/// Area codes are `10` (Beijing), `2X` (the largest cities) or three digits starting 3–9; local
/// numbers have 7 or 8 digits and never start with 0.
fn split_area_code(national: &str) -> Result<(&str, &str), String> {
    let area_len = match national.as_bytes() {
        [b'1', b'0', ..] | [b'2', ..] => 2,
        [b'3'..=b'9', ..] => 3,
        [] => return Err(NO_AREA_CODE.into()),
        _ => return Err("landline number's area code is not a mainland area code".into()),
    };
    if national.len() <= area_len {
        return Err("landline number has an area code but no local number".into());
    }
    let (area, local) = national.split_at(area_len);
    if !(7..=8).contains(&local.len()) {
        return Err(format!(
            "landline number has {} digits after the area code; local numbers have 7 or 8",
            local.len()
        ));
    }
    if local.starts_with('0') {
        return Err("landline number's local part starts with 0; local numbers never do".into());
    }
    Ok((area, local))
}

impl Landline {
    fn from_parts(area: &str, local: &str, extension: Option<&str>) -> Landline {
        match extension {
            Some(ext) => Landline(format!("+86-{area}-{local}-{ext}")),
            None => Landline(format!("+86-{area}-{local}")),
        }
    }
}

macro_rules! string_newtype_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = FieldError;
            fn from_str(s: &str) -> Result<Self, FieldError> {
                $name::parse(s)
            }
        }
    };
}

string_newtype_impls!(Mobile);
string_newtype_impls!(Landline);

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
