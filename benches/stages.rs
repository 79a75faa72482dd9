//! Per-stage throughput on a generated corpus, one core: inflate, parse into Arrow, Parquet
//! encode (with the lake's writer settings, and without compression to separate zstd's
//! share), the hourly rollup (built, and built and encoded), and a run's commit.
//! `cargo bench --bench stages`; criterion reports events/s (elements) and MB/s (bytes of
//! gzip input for inflate, of JSON for parse).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deltalake::arrow::array::RecordBatch;
use deltalake::writer::DeltaWriter;
use ingest::backfill::BackfillOptions;
use ingest::decode::{EventBatchBuilder, FileDecoder};
use lake::{CLOUDTRAIL_TABLE, Lake, LakeOptions, LedgerEntry};
use sample_logs::{GenerateOptions, generate};

/// The files to run the stages over: `STAGES_CORPUS` (a folder of `.json.gz` logs, e.g.
/// `target/bench-corpus/large`, whose files hold ~145 events each) or a generated
/// 50,000-event corpus (~15 events per file); `STAGES_MAX_FILES` keeps the first N by path.
fn corpus() -> Vec<Vec<u8>> {
    let dir = match std::env::var_os("STAGES_CORPUS") {
        Some(d) => d.into(),
        None => {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stages-corpus");
            if !dir.join("planted.tsv").exists() {
                generate(&GenerateOptions {
                    out: dir.clone(),
                    events: 50_000,
                    accounts: 2,
                    days: 1,
                    seed: 1,
                    ..Default::default()
                })
                .expect("generate the bench corpus");
            }
            dir
        }
    };
    let mut paths = vec![];
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read corpus") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let max = std::env::var("STAGES_MAX_FILES").ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    paths.iter().take(max).map(|p| std::fs::read(p).expect("read file")).collect()
}

/// Decodes `files` into batches of the builder's capacity, as a lane does, handing each
/// full batch (and the last, partial one) to `out`.
fn decode_all(
    dec: &mut FileDecoder,
    builder: &mut EventBatchBuilder,
    files: &[Vec<u8>],
    mut out: impl FnMut(RecordBatch),
) {
    for f in files {
        dec.decode(f, "bench", builder).expect("decode");
        if builder.len() >= builder.capacity() {
            out(builder.finish());
        }
    }
    out(builder.finish());
}

fn stages(c: &mut Criterion) {
    let files = corpus();
    // The batches the encode and commit stages take, as the lanes build them; they also
    // count the events.
    let batch_rows = BackfillOptions::default().batch_rows;
    let mut batches = vec![];
    decode_all(&mut FileDecoder::default(), &mut EventBatchBuilder::new(batch_rows), &files, |b| batches.push(b));
    let events: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
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
        let mut builder = EventBatchBuilder::new(batch_rows);
        b.iter(|| decode_all(&mut dec, &mut builder, &files, |_| ()))
    });
    g.throughput(Throughput::Bytes(json_bytes));
    g.bench_function("decode_to_arrow_from_json", |b| {
        let mut dec = FileDecoder::default();
        let mut builder = EventBatchBuilder::new(batch_rows);
        b.iter(|| decode_all(&mut dec, &mut builder, &inflated, |_| ()))
    });
    // Parquet encode of the decoded batches, with the lake's writer settings.
    let props = LakeOptions::default().writer_properties();
    g.throughput(Throughput::Elements(events));
    let encode = |props: &parquet::file::properties::WriterProperties| {
        let mut w = parquet::arrow::ArrowWriter::try_new(
            Vec::with_capacity(64 << 20),
            batches[0].schema(),
            Some(props.clone()),
        )
        .expect("writer");
        for batch in &batches {
            w.write(batch).expect("write");
        }
        w.into_inner().expect("close").len()
    };
    g.bench_function("parquet_encode_lake_settings", |b| b.iter(|| encode(&props)));
    let uncompressed = props.clone().into_builder().set_compression(parquet::basic::Compression::UNCOMPRESSED).build();
    g.bench_function("parquet_encode_uncompressed", |b| b.iter(|| encode(&uncompressed)));

    // The hourly rollup of the decoded batches, as a lane builds it, then its rows Parquet
    // encoded with the settings the lanes write them with.
    let rollup_props = lake::rollup::rollup_properties(&LakeOptions::default(), false);
    g.bench_function("rollup_build", |b| {
        b.iter(|| {
            let mut r = lake::rollup::RollupBuilder::new();
            for batch in &batches {
                r.add_events(batch).expect("rollup");
            }
            r.rows()
        })
    });
    g.bench_function("rollup_build_and_encode", |b| {
        b.iter(|| {
            let mut r = lake::rollup::RollupBuilder::new();
            for batch in &batches {
                r.add_events(batch).expect("rollup");
            }
            let mut w = parquet::arrow::ArrowWriter::try_new(
                Vec::with_capacity(64 << 20),
                lake::rollup::rollup_schema(),
                Some(rollup_props.clone()),
            )
            .expect("writer");
            for (_, batch) in r.finish() {
                w.write(&batch).expect("write");
            }
            w.into_inner().expect("close").len()
        })
    });

    // A run's commit: the data files' adds and one ledger entry per source file, into a new
    // lake each time (the data files themselves are written once, outside the timing).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (adds, ledger) = rt.block_on(async {
        let lake = Lake::open_or_create(&tmp.path().join("written").to_string_lossy(), &LakeOptions::default())
            .await
            .expect("lake");
        let table = lake.table(CLOUDTRAIL_TABLE).await.expect("table");
        let mut w = lake.writer(&table).expect("writer");
        for batch in &batches {
            w.write(batch.clone()).await.expect("write");
        }
        let adds = w.flush().await.expect("flush");
        let ledger: Vec<LedgerEntry> = (0..files.len())
            .map(|i| LedgerEntry {
                name: format!("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/file-{i}.json.gz"),
                uri: format!("/corpus/file-{i}.json.gz"),
                size: 20_000,
                etag: None,
                events: 145,
                error: None,
                sha256: None,
                kind: Default::default(),
            })
            .collect();
        (adds, ledger)
    });
    let mut run = 0;
    g.bench_function("commit_run", |b| {
        b.iter(|| {
            run += 1;
            rt.block_on(async {
                let lake = Lake::open_or_create(
                    &tmp.path().join(format!("commit-{run}")).to_string_lossy(),
                    &LakeOptions::default(),
                )
                .await
                .expect("lake");
                let mut table = lake.table(CLOUDTRAIL_TABLE).await.expect("table");
                lake.commit_run(&mut table, adds.clone(), &ledger, vec![], "bench").await.expect("commit")
            })
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
