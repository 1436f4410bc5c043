//! The ingest benchmark's work without a harness, for counting instructions
//! per record: `ingest_instructions xapi|caliper N` runs N records (the
//! benchmark's inputs, prepared before the first). Run it under
//! `valgrind --tool=callgrind` with N and with 0: the difference of the
//! instruction counts divided by N is one record's cost, setup excluded.
//! Build: `cargo build --release --workspace --example ingest_instructions`.

#[path = "../benches/inputs/mod.rs"]
mod inputs;

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lap_runtime::config::IngestConfig;

use inputs::{caliper_envelope, ingest_caliper, ingest_xapi, xapi_statement};

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let cfg = IngestConfig::default();
    let make: fn(usize) -> String = match kind.as_str() {
        "xapi" => xapi_statement,
        "caliper" => caliper_envelope,
        _ => {
            eprintln!("usage: ingest_instructions xapi|caliper N");
            std::process::exit(2);
        }
    };
    let inputs: Vec<String> = (0..1000).map(make).collect();
    let mut buf = Vec::with_capacity(1024);
    for i in 0..n {
        let input = inputs[i % inputs.len()].as_bytes();
        match kind.as_str() {
            "xapi" => ingest_xapi(input, &cfg, &mut buf),
            _ => ingest_caliper(input, &cfg, &mut buf),
        }
    }
}
