//! The event contract on the wire: one golden envelope per event type under
//! tests/golden/events. Each decodes into the typed `DomainEvent` and encodes back to
//! the same bytes, so a renamed or reordered field fails here rather than in a consumer
//! on another node.

use std::path::{Path, PathBuf};

use folio_actors::events::{DomainEvent, EventEnvelope, EventType};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events")
}

fn golden(event_type: EventType) -> String {
    let path = golden_dir().join(format!("{}.json", event_type.as_str()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim_end().to_string()
}

#[test]
fn every_event_type_has_a_golden_envelope() {
    let mut files: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("the golden directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = EventType::ALL.iter().map(|t| format!("{}.json", t.as_str())).collect();
    expected.sort();
    assert_eq!(files, expected, "one golden file per event type, and nothing else");
}

#[test]
fn golden_envelopes_decode_and_encode_to_the_same_bytes() {
    for event_type in EventType::ALL {
        let wire = golden(event_type);
        let envelope =
            EventEnvelope::decode(wire.as_bytes()).unwrap_or_else(|e| panic!("{event_type}: {e}: {}", e.source));
        assert_eq!(envelope.event_type(), event_type, "{wire}");
        let encoded = serde_json::to_string(&envelope).expect("encodes");
        assert_eq!(encoded, wire, "{event_type} changed on the wire");
    }
}

/// The payload as its struct encodes it (fields in declaration order).
fn payload_in_declared_order(event: &DomainEvent) -> String {
    let encoded = match event {
        DomainEvent::ProfileUpdated(p) => serde_json::to_string(p),
        DomainEvent::ProjectCreated(p) | DomainEvent::ProjectUpdated(p) => serde_json::to_string(p),
        DomainEvent::ProjectDeleted(p) => serde_json::to_string(p),
        DomainEvent::MediaUploaded(p) => serde_json::to_string(p),
        DomainEvent::MediaDeleted(p) => serde_json::to_string(p),
        DomainEvent::UserDeleted(p) => serde_json::to_string(p),
        DomainEvent::UserExportRequested(p) => serde_json::to_string(p),
    };
    encoded.expect("encodes")
}

/// The seed's producers built `data` as a JSON map, which orders keys alphabetically;
/// the typed payloads must keep that order to stay byte-compatible.
#[test]
fn payload_fields_keep_the_seeds_order() {
    for event_type in EventType::ALL {
        let envelope = EventEnvelope::decode(golden(event_type).as_bytes()).expect("decodes");
        let declared = payload_in_declared_order(&envelope.event);
        let as_map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&declared).expect("an object");
        assert_eq!(
            declared,
            serde_json::to_string(&as_map).expect("encodes"),
            "{event_type}"
        );
    }
}

#[test]
fn a_payload_missing_a_field_is_malformed_not_defaulted() {
    let wire = golden(EventType::MediaUploaded).replace("\"mime_type\":\"image/jpeg\",", "");
    let error = EventEnvelope::decode(wire.as_bytes()).expect_err("mime_type is required");
    assert_eq!(error.type_label(), "media.uploaded");
}

/// Events written before visibility existed carry none: they decode as public, and the
/// field is always written since.
#[test]
fn a_project_event_without_visibility_is_public() {
    use folio_actors::project::Visibility;
    let old = golden(EventType::ProjectCreated).replace(",\"visibility\":\"public\"", "");
    assert!(!old.contains("visibility"), "{old}");
    let envelope = EventEnvelope::decode(old.as_bytes()).expect("an event from before visibility decodes");
    let DomainEvent::ProjectCreated(project) = &envelope.event else {
        panic!("{envelope:?}")
    };
    assert_eq!(project.visibility, Visibility::Public);
    let updated = EventEnvelope::decode(golden(EventType::ProjectUpdated).as_bytes()).expect("decodes");
    let DomainEvent::ProjectUpdated(project) = &updated.event else {
        panic!("{updated:?}")
    };
    assert_eq!(project.visibility, Visibility::Private);
    let encoded = serde_json::to_string(&envelope).expect("encodes");
    assert!(encoded.contains("\"visibility\":\"public\""), "{encoded}");
}
