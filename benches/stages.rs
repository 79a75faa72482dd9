//! Per-stage throughput on a generated corpus: inflate, parse into Arrow, Parquet encode.
//! `cargo bench --bench stages`; criterion reports events/s (elements) and MB/s (bytes of
//! gzip input for inflate, of JSON for parse).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::decode::{EventBatchBuilder, FileDecoder};
use ingest::generate::{GenerateOptions, generate};

fn corpus() -> (Vec<Vec<u8>>, u64) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stages-corpus");
    if !dir.join("planted.tsv").exists() {
        generate(&GenerateOptions { out: dir.clone(), events: 50_000, accounts: 2, days: 1, seed: 1, ..Default::default() })
            .expect("generate the bench corpus");
    }
    let mut files = vec![];
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read corpus") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                files.push(std::fs::read(&p).expect("read file"));
            }
        }
    }
    let mut dec = FileDecoder::default();
    let mut b = EventBatchBuilder::new(1 << 16);
    let mut events = 0;
    for f in &files {
        events += dec.decode(f, "bench", &mut b).expect("decode").counts.events;
    }
    (files, events)
}

fn stages(c: &mut Criterion) {
    let (files, events) = corpus();
    let gz_bytes: u64 = files.iter().map(|f| f.len() as u64).sum();
    let inflated: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut out = vec![];
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&f[..]), &mut out).expect("inflate");
            out
        })
        .collect();
    let json_bytes: u64 = inflated.iter().map(|f| f.len() as u64).sum();

    let mut g = c.benchmark_group("stages");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(gz_bytes));
    g.bench_function("inflate_libdeflate", |b| {
        let mut d = libdeflater::Decompressor::new();
        let mut out = vec![0u8; 64 << 20];
        b.iter(|| {
            for f in &files {
                let n = f.len();
                let isize = u32::from_le_bytes([f[n - 4], f[n - 3], f[n - 2], f[n - 1]]) as usize;
                d.gzip_decompress(f, &mut out[..isize]).expect("inflate");
            }
        })
    });
    g.throughput(Throughput::Elements(events));
    g.bench_function("decode_to_arrow_from_gzip", |b| {
        let mut dec = FileDecoder::default();
        let mut builder = EventBatchBuilder::new(1 << 15);
        b.iter(|| {
            for f in &files {
                dec.decode(f, "bench", &mut builder).expect("decode");
                if builder.len() >= 1 << 15 {
                    builder.finish();
                }
            }
            builder.finish()
        })
    });
    g.throughput(Throughput::Bytes(json_bytes));
    g.bench_function("decode_to_arrow_from_json", |b| {
        let mut dec = FileDecoder::default();
        let mut builder = EventBatchBuilder::new(1 << 15);
        b.iter(|| {
            for f in &inflated {
                dec.decode(f, "bench", &mut builder).expect("decode");
                if builder.len() >= 1 << 15 {
                    builder.finish();
                }
            }
            builder.finish()
        })
    });
    // Parquet encode of the decoded batches, with the lake's writer settings.
    let mut dec = FileDecoder::default();
    let mut builder = EventBatchBuilder::new(1 << 16);
    let mut batches = vec![];
    for f in &files {
        dec.decode(f, "bench", &mut builder).expect("decode");
        if builder.len() >= 1 << 15 {
            batches.push(builder.finish());
        }
    }
    batches.push(builder.finish());
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    g.throughput(Throughput::Elements(events));
    g.bench_function("parquet_encode_zstd1", |b| {
        b.iter(|| {
            let mut w = parquet::arrow::ArrowWriter::try_new(Vec::with_capacity(64 << 20), batches[0].schema(), Some(props.clone()))
                .expect("writer");
            for batch in &batches {
                w.write(batch).expect("write");
            }
            w.into_inner().expect("close").len()
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
