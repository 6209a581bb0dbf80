//! A push body as the server receives it: JSON decoding of the protocol,
//! then the domain's checks the server runs on every mutation. Nothing may
//! panic, and what decodes re-encodes to the same request.
//! Keep in step with crates/protocol/tests/fuzz_corpus.rs (the replay).
#![no_main]

use fieldbook_domain::Mutation;
use fieldbook_protocol::PushRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<PushRequest>(data) else {
        return;
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
});
