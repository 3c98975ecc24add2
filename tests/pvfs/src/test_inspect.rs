//! Static checks of Wasm modules for the crate's own tests, with `wasmparser`.

use wasmparser::{BinaryReaderError, ValType, Validator, WasmFeatures, types::EntityType};

/// What a host must accept: Wasm 2.0 without SIMD (MVP, mutable globals, bulk memory,
/// sign extension, saturating float-to-int, multi-value, reference types).
pub(crate) const ACCEPTED: WasmFeatures = WasmFeatures::WASM2.difference(WasmFeatures::SIMD);

/// The kind of an import or export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Func(Vec<ValType>, Vec<ValType>),
    Memory,
    Global,
    Other,
}

/// The imports `(module, name, kind)` and exports `(name, kind)` of a valid module.
#[derive(Debug)]
pub(crate) struct Summary {
    pub imports: Vec<(String, String, Kind)>,
    pub exports: Vec<(String, Kind)>,
}

impl Summary {
    /// The kind of export `name`, if any.
    pub(crate) fn export(&self, name: &str) -> Option<&Kind> {
        self.exports.iter().find(|(n, _)| n == name).map(|(_, k)| k)
    }

    /// Whether `module.name` is imported.
    pub(crate) fn imports(&self, module: &str, name: &str) -> Option<&Kind> {
        self.imports
            .iter()
            .find(|(m, n, _)| m == module && n == name)
            .map(|(_, _, k)| k)
    }
}

/// The type `validate_block` must have.
pub(crate) fn validate_block_type() -> Kind {
    Kind::Func(vec![ValType::I32, ValType::I32], vec![ValType::I64])
}

/// Validates `wasm` with `features` and summarises its imports and exports.
pub(crate) fn inspect(wasm: &[u8], features: WasmFeatures) -> Result<Summary, BinaryReaderError> {
    let types = Validator::new_with_features(features).validate_all(wasm)?;
    let kind = |entity: EntityType| match entity {
        EntityType::Func(id) | EntityType::FuncExact(id) => {
            let func = types[id].unwrap_func();
            Kind::Func(func.params().to_vec(), func.results().to_vec())
        }
        EntityType::Memory(_) => Kind::Memory,
        EntityType::Global(_) => Kind::Global,
        _ => Kind::Other,
    };
    let view = types.as_ref();
    Ok(Summary {
        imports: view
            .core_imports()
            .expect("a module")
            .map(|(m, n, t)| (m.to_owned(), n.to_owned(), kind(t)))
            .collect(),
        exports: view
            .core_exports()
            .expect("a module")
            .map(|(n, t)| (n.to_owned(), kind(t)))
            .collect(),
    })
}
