//! Pages of a list, as every listing route takes them.

use serde::{Deserialize, Serialize};

use crate::validation::{Field, ValidationError};

/// The largest page asked for: `(MAX_PAGE - 1) × 100` fits a signed 64-bit offset, and
/// the bound is exact as a JSON number.
pub const MAX_PAGE: u64 = 1_000_000_000_000_000;

/// Page numbers from 1 to `MAX_PAGE`; sizes from 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

impl PageRequest {
    pub fn parse(page: Option<u64>, size: Option<u64>) -> Result<Self, ValidationError> {
        let page = page.unwrap_or(1);
        let size = size.unwrap_or(20);
        if page < 1 {
            return Err(ValidationError::new(Field::Page, "page must be at least 1"));
        }
        if !(1..=100).contains(&size) {
            return Err(ValidationError::new(Field::Size, "size must be between 1 and 100"));
        }
        // Databases take a signed 64-bit offset; past MAX_PAGE it could overflow.
        if page > MAX_PAGE {
            return Err(ValidationError::new(
                Field::Page,
                format!("page must be at most {MAX_PAGE}"),
            ));
        }
        Ok(Self { page, size })
    }

    /// Never overflows: `parse` refused every page whose offset would.
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.size
    }
}
