//! dockhard: hardens Linux hosts that run Docker.
//!
//! The flow is one way: the policy (rules + profile) and the host are
//! inspected, a [`plan::Plan`] is made, rendered, saved, and applied by the
//! executor after a snapshot is taken. See DESIGN.md for the invariants.

pub mod apply;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod error;
pub mod health;
pub mod host;
pub mod kinds;
pub mod plan;
pub mod planner;
pub mod privilege;
pub mod profile;
pub mod progress;
pub mod prompt;
pub mod render;
pub mod snapshot;
