//! One module per `lap` subcommand.

pub mod roster;
pub mod topics;
