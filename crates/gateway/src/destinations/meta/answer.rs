//! How Meta's answers read: `signalpost_meta::classify` (Graph error codes: 190 and permission
//! codes pause, throttling and transient codes retry, 100 is invalid content), the trace id in
//! `fbtrace_id` (or the `x-fb-trace-id` header), and the `data[N]` an invalid batch names.

use signalpost_destination::http::ReadAnswer;

/// Meta's answer reader.
pub const READ: ReadAnswer = ReadAnswer {
    classify: signalpost_meta::classify,
    trace_header: Some("x-fb-trace-id"),
};

/// The event `data[N]` Meta's message names, if any.
pub fn rejected_index(message: &str) -> Option<usize> {
    signalpost_meta::rejected_event_index(message)
}
