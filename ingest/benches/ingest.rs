//! Ingest throughput on one core: parse + validate + normalise + Avro-encode
//! realistic ~1 KB statements (xAPI, with context and result) and Caliper
//! events. Run: `cargo bench --workspace --bench ingest` (with `--workspace`
//! the build shares the workspace's features and compiled crates; `-p`
//! would resolve them anew and rebuild much of the tree).

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lap_runtime::config::IngestConfig;

mod inputs;

use inputs::{caliper_envelope, ingest_caliper, ingest_xapi, xapi_statement};

fn ingest(c: &mut Criterion) {
    let cfg = IngestConfig::default();
    let statements: Vec<String> = (0..1000).map(xapi_statement).collect();
    let envelopes: Vec<String> = (0..1000).map(caliper_envelope).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1));

    let mut i = 0;
    group.bench_function(
        format!("xapi_statement_{}_bytes", statements[0].len()),
        |b| {
            let mut buf = Vec::with_capacity(1024);
            b.iter(|| {
                i = (i + 1) % statements.len();
                ingest_xapi(statements[i].as_bytes(), &cfg, &mut buf);
            })
        },
    );

    let mut j = 0;
    group.bench_function(format!("caliper_event_{}_bytes", envelopes[0].len()), |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            j = (j + 1) % envelopes.len();
            ingest_caliper(envelopes[j].as_bytes(), &cfg, &mut buf);
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
