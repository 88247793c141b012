//! Canonical JSON written straight from a `Serialize` value: the bytes
//! `canonical_json(&serde_json::to_value(v))` gives (keys sorted at every depth, no whitespace,
//! numbers as `serde_json::Value` holds them), without building that value. Appending a batch
//! serialises every payload, and the intermediate `Value` (a map per struct, a string per key)
//! was a third of the cost.
//!
//! Each object is written in field order, then its entries are put in key order in place.

use std::borrow::Cow;
use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

type Error = serde_json::Error;

fn custom(msg: impl Display) -> Error {
    ser::Error::custom(msg)
}

/// Writes `value` as canonical JSON into `out` (appending).
pub fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    value.serialize(Canonical { out })
}

/// A scalar exactly as `serde_json` writes it.
fn scalar<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    serde_json::to_writer(out, value)
}

/// `serde_json::Value` keeps an `f32` as the `f64` it widens to, and a non-finite float as null.
fn float(value: f64, out: &mut Vec<u8>) -> Result<(), Error> {
    if value.is_finite() {
        scalar(&value, out)
    } else {
        out.extend_from_slice(b"null");
        Ok(())
    }
}

struct Canonical<'a> {
    out: &'a mut Vec<u8>,
}

/// An object being written: where it starts in `out` and its entries so far (key, and the
/// byte range of `"key":value`).
struct Object<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    entries: Vec<(Cow<'static, str>, usize, usize)>,
    /// The key of the map entry whose value comes next.
    pending_key: Option<String>,
    /// Closing braces to write after the object's own (for `{"Variant":{...}}`).
    wrappers: usize,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>, wrappers: usize) -> Object<'a> {
        out.push(b'{');
        let start = out.len();
        Object {
            out,
            start,
            entries: Vec::new(),
            pending_key: None,
            wrappers,
        }
    }

    fn entry<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        if !self.entries.is_empty() {
            self.out.push(b',');
        }
        let begin = self.out.len();
        scalar(key.as_ref(), self.out)?;
        self.out.push(b':');
        value.serialize(Canonical { out: self.out })?;
        self.entries.push((key, begin, self.out.len()));
        Ok(())
    }

    /// Puts the entries in key order (a later duplicate key wins, as in a map) and closes the
    /// object. Entries already in order (a `BTreeMap`, most small structs) stay where they are.
    fn close(mut self) -> Result<(), Error> {
        let ordered = self.entries.windows(2).all(|w| w[0].0 < w[1].0);
        if !ordered {
            self.entries.sort_by(|a, b| a.0.cmp(&b.0));
            self.entries.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    // `dedup_by` keeps the earlier one: give it the later value.
                    std::mem::swap(later, earlier);
                }
                same
            });
            let body = self.out.split_off(self.start);
            for (i, (_, begin, end)) in self.entries.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                self.out
                    .extend_from_slice(&body[begin - self.start..end - self.start]);
            }
        }
        self.out.push(b'}');
        for _ in 0..self.wrappers {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written; `wrappers` as in [`Object`].
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    wrappers: usize,
}

impl<'a> Array<'a> {
    fn open(out: &'a mut Vec<u8>, wrappers: usize) -> Array<'a> {
        out.push(b'[');
        Array {
            out,
            first: true,
            wrappers,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canonical { out: self.out })
    }

    fn close(self) -> Result<(), Error> {
        self.out.push(b']');
        for _ in 0..self.wrappers {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// Writes `{"variant":` (the opening of an externally tagged enum value).
fn variant_key(out: &mut Vec<u8>, variant: &str) -> Result<(), Error> {
    out.push(b'{');
    scalar(variant, out)?;
    out.push(b':');
    Ok(())
}

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        // `Value` holds integers in 64 bits.
        let v = i64::try_from(v).map_err(|_| custom("number out of range"))?;
        scalar(&v, self.out)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        let v = u64::try_from(v).map_err(|_| custom("number out of range"))?;
        scalar(&v, self.out)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        float(f64::from(v), self.out)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        float(v, self.out)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        scalar(&v, self.out)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        scalar(v, self.out)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut array = Array::open(self.out, 0);
        for byte in v {
            array.element(byte)?;
        }
        array.close()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        scalar(variant, self.out)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        variant_key(self.out, variant)?;
        value.serialize(Canonical { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Error> {
        Ok(Array::open(self.out, 0))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Array<'a>, Error> {
        Ok(Array::open(self.out, 0))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Array<'a>, Error> {
        Ok(Array::open(self.out, 0))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Error> {
        variant_key(self.out, variant)?;
        Ok(Array::open(self.out, 1))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::open(self.out, 0))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'a>, Error> {
        Ok(Object::open(self.out, 0))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Error> {
        variant_key(self.out, variant)?;
        Ok(Object::open(self.out, 1))
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending_key = Some(key.serialize(KeyText)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| custom("map value without a key"))?;
        self.entry(Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.entry(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.entry(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A map key as the string `serde_json::Value` makes of it (strings, integers, chars, bools).
struct KeyText;

fn not_a_key() -> Error {
    custom("a map key must be a string, an integer, a char or a bool")
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    fn serialize_bool(self, v: bool) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_char(self, v: char) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, Error> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;

    use super::write;
    use crate::store::canonical_json;

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(f32),
        Tuple(u8, String),
        Struct { z: bool, a: Option<i64> },
    }

    #[derive(Serialize)]
    struct Inner {
        zeta: Vec<f32>,
        alpha: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
    }

    #[derive(Serialize)]
    struct Sample {
        values: (f64, f64),
        name: &'static str,
        inner: Inner,
        shapes: Vec<Shape>,
        by_id: HashMap<u32, &'static str>,
        by_name: BTreeMap<String, Inner>,
        bytes: serde_bytes_like::Bytes,
        nan: f64,
        big: u64,
        negative: i32,
        letter: char,
        unit: (),
    }

    mod serde_bytes_like {
        /// Serialises through `serialize_bytes`, as `serde_bytes` does.
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    fn sample() -> Sample {
        Sample {
            values: (0.1, -2.5e-300),
            name: "quote \" and \\ and \u{1} and é",
            inner: Inner {
                zeta: vec![0.1, 1.0 / 3.0, f32::INFINITY],
                alpha: None,
                skipped: None,
            },
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(0.3),
                Shape::Tuple(7, "t".into()),
                Shape::Struct {
                    z: true,
                    a: Some(-4),
                },
            ],
            by_id: [(10, "ten"), (2, "two"), (33, "thirty-three")]
                .into_iter()
                .collect(),
            by_name: [(
                "b".to_string(),
                Inner {
                    zeta: vec![],
                    alpha: Some("x".into()),
                    skipped: Some(1),
                },
            )]
            .into_iter()
            .collect(),
            bytes: serde_bytes_like::Bytes(vec![0, 255, 7]),
            nan: f64::NAN,
            big: u64::MAX,
            negative: -17,
            letter: 'λ',
            unit: (),
        }
    }

    #[test]
    fn writes_the_bytes_of_canonical_json_of_the_value() {
        let value = serde_json::to_value(sample()).unwrap();
        let mut out = Vec::new();
        write(&sample(), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), canonical_json(&value));
    }

    #[test]
    fn a_key_that_is_not_a_string_or_integer_is_an_error() {
        let map: Vec<(f64, u8)> = vec![(1.5, 1)];
        struct FloatKeys(Vec<(f64, u8)>);
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        let err = write(&FloatKeys(map), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("map key"), "{err}");
    }
}
