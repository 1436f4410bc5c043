//! `lap-sink`: not built yet. It exits with an error instead of pretending
//! to run, so a deployment that starts it fails visibly.

fn main() -> std::process::ExitCode {
    eprintln!("lap-sink is not implemented yet; run lap-ingest for now (see README, Status)");
    std::process::ExitCode::from(2)
}
