//! Replays the fuzz seed corpus (`fuzz/corpus/push_request`) through what
//! the `push_request` fuzz target checks, on every `cargo test`: decoding a
//! push body never panics, the domain's checks of every mutation never
//! panic, and what decodes re-encodes to the same request. Keep in step
//! with fuzz/fuzz_targets/push_request.rs.

use std::path::Path;

use fieldbook_domain::Mutation;
use fieldbook_protocol::PushRequest;

fn check(data: &[u8]) -> bool {
    let Ok(request) = serde_json::from_slice::<PushRequest>(data) else {
        return false;
    };
    for envelope in &request.mutations {
        let _ = envelope.mutation.check_limits();
        if let Mutation::ReportSubmit { report } = &envelope.mutation {
            let _ = report.validate(&[], None);
        }
    }
    let encoded = serde_json::to_vec(&request).expect("a decoded request encodes");
    let again: PushRequest = serde_json::from_slice(&encoded).expect("and decodes again");
    assert_eq!(again, request);
    true
}

#[test]
fn the_push_request_seed_corpus_replays_cleanly() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/push_request");
    let mut files = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(&corpus).expect("the committed seed corpus") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        files += 1;
        decoded += usize::from(check(&data));
    }
    // The seeds cover every mutation kind; most of them decode.
    assert!(files >= 10, "{files} seeds in {}", corpus.display());
    assert!(decoded >= 8, "only {decoded} of {files} seeds decode");
}
