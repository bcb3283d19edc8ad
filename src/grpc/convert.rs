//! Conversions between protobuf well-known types and the domain's plain
//! values: timestamps, durations and `google.protobuf.Struct`.

use prost_types::{value::Kind, ListValue, Struct, Timestamp, Value as ProtoValue};
use serde_json::{Map, Number, Value};

/// Unix seconds as a protobuf timestamp.
pub(super) fn timestamp(unix_seconds: i64) -> Timestamp {
    Timestamp {
        seconds: unix_seconds,
        nanos: 0,
    }
}

/// A protobuf `Struct` as a JSON object. Fails on numbers JSON cannot hold
/// (NaN, infinities) and on nesting deeper than [`MAX_DEPTH`].
pub(super) fn struct_to_json(value: Struct) -> Result<Map<String, Value>, String> {
    struct_fields(value, 0)
}

/// Deepest nesting accepted in custom claims.
pub(super) const MAX_DEPTH: usize = 16;

fn struct_fields(value: Struct, depth: usize) -> Result<Map<String, Value>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("claims are nested deeper than {MAX_DEPTH} levels"));
    }
    value
        .fields
        .into_iter()
        .map(|(k, v)| Ok((k, value_to_json(v, depth + 1)?)))
        .collect()
}

fn value_to_json(value: ProtoValue, depth: usize) -> Result<Value, String> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::NumberValue(n)) => Number::from_f64(n)
            .map(Value::Number)
            .ok_or("claims hold a number that is not finite")?,
        Some(Kind::StructValue(s)) => Value::Object(struct_fields(s, depth)?),
        Some(Kind::ListValue(list)) => {
            if depth > MAX_DEPTH {
                return Err(format!("claims are nested deeper than {MAX_DEPTH} levels"));
            }
            Value::Array(
                list.values
                    .into_iter()
                    .map(|v| value_to_json(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// A JSON object as a protobuf `Struct`.
pub(super) fn json_to_struct(map: Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(value: Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(json_to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    ProtoValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_survive_the_round_trip() {
        let json: Map<String, Value> = serde_json::from_str(
            r#"{"tenant":"acme","roles":["a","b"],"level":3.0,"flags":{"beta":true},"none":null}"#,
        )
        .unwrap();
        assert_eq!(struct_to_json(json_to_struct(json.clone())).unwrap(), json);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut value = Struct::default();
        for _ in 0..40 {
            value = Struct {
                fields: [(
                    "x".to_owned(),
                    ProtoValue {
                        kind: Some(Kind::StructValue(value)),
                    },
                )]
                .into(),
            };
        }
        assert!(struct_to_json(value).is_err());
    }
}
