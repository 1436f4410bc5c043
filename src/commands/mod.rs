//! One module per `lap` subcommand.

pub mod topics;
