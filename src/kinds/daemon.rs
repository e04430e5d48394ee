//! Kind `daemon` (being built).

use super::{Context, Outcome};
use crate::error::Result;

pub mod json;

pub fn plan(_ctx: &Context<'_>) -> Result<Outcome> {
    Ok(Outcome::default())
}
