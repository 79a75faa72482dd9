//! Any text as an SQS message body: the parser recognises an announcement or says it
//! does not, and never panics; S3 key decoding never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        let _ = ingest::sqs::message::parse_body(body);
        let _ = ingest::sqs::message::decode_s3_key(body);
    }
});
