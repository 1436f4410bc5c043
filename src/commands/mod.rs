//! One module per `lap` subcommand.

pub mod backfill;
pub mod roster;
pub mod topics;
