//! Any bytes as a CloudTrail log file: the decoder returns events or an error, never
//! panics, appends nothing on error, and what it appends rebuilds without panicking.
#![no_main]

use ingest::decode::{EventBatchBuilder, FileDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap so inflating bombs stays cheap; the cap itself is part of what is tested.
    let mut decoder = FileDecoder::new(4 << 20);
    let mut builder = EventBatchBuilder::new(16);
    match decoder.decode(data, "fuzz://input.json.gz", &mut builder) {
        Ok(decoded) => {
            let batch = builder.finish();
            assert_eq!(batch.num_rows() as u64, decoded.counts.events);
            // Rebuilding may refuse (serde_json's nesting limit) but must not panic.
            let _ = ingest::rebuild::rebuild_events(&batch);
        }
        Err(_) => assert_eq!(builder.finish().num_rows(), 0, "a failed file appended rows"),
    }
});
