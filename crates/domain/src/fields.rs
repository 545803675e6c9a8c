//! The standard contact fields every organisation has. Anything else is a custom field kept in the
//! contact's JSON traits, never a new column.

use serde::{Deserialize, Serialize};

/// A standard attribute of a contact. The string form (`as_str`) is the trait key used in the API,
/// in tracking `identify` traits and in import mappings.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StandardField {
    Name,
    Email,
    Mobile,
    Landline,
    Company,
    Title,
    Department,
    Industry,
    CompanySize,
    Province,
    City,
    Source,
}

impl StandardField {
    pub const ALL: [StandardField; 12] = [
        StandardField::Name,
        StandardField::Email,
        StandardField::Mobile,
        StandardField::Landline,
        StandardField::Company,
        StandardField::Title,
        StandardField::Department,
        StandardField::Industry,
        StandardField::CompanySize,
        StandardField::Province,
        StandardField::City,
        StandardField::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StandardField::Name => "name",
            StandardField::Email => "email",
            StandardField::Mobile => "mobile",
            StandardField::Landline => "landline",
            StandardField::Company => "company",
            StandardField::Title => "title",
            StandardField::Department => "department",
            StandardField::Industry => "industry",
            StandardField::CompanySize => "company_size",
            StandardField::Province => "province",
            StandardField::City => "city",
            StandardField::Source => "source",
        }
    }

    pub fn parse(s: &str) -> Option<StandardField> {
        StandardField::ALL.into_iter().find(|f| f.as_str() == s)
    }
}
