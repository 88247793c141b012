//! The ONNX BERT importer on arbitrary bytes: protobuf decoding, graph checks, tensor reading
//! and the mapping to Hugging Face names. Any input must give a model or an error, never a
//! panic or an allocation the file's size cannot justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = exp::onnx::import_bert_bytes(bytes, None);
});
