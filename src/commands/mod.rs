//! One module per `lap` subcommand.

pub mod backfill;
pub mod catalog;
pub mod demo;
pub mod generate;
pub mod lake;
pub mod query;
pub mod roster;
pub mod run;
pub mod topics;
