//! Backward compatibility: a reader with the current schema must read data
//! written with every published version.

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

/// Checks that `reader` can fully resolve data written with each schema in
/// `writers` (label, schema). Returns every incompatibility, labelled, so a
/// failing change says exactly which version and field broke.
pub fn check_backward(reader: &Schema, writers: &[(String, &Schema)]) -> Result<(), Vec<String>> {
    let problems: Vec<String> = writers
        .iter()
        .filter_map(|(label, writer)| match SchemaCompatibility::can_read(writer, reader) {
            Ok(Compatibility::Full) => None,
            Ok(Compatibility::Partial) => Some(format!(
                "{label}: only partially readable (a union or enum no longer covers every written value)"
            )),
            Err(e) => Some(format!("{label}: {e}")),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
