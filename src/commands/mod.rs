//! One module per `lap` subcommand.

pub mod backfill;
pub mod query;
pub mod roster;
pub mod topics;
