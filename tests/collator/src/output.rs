//! Writing candidates: `workload.json` for `pvf-node run --workload`, and per candidate the
//! files `pvf-node validate` takes (`validate.cmd`: its command line, run from the output folder).

use crate::{
    candidate::{Candidate, Expect},
    error::Error,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A chain's candidates, ready to write.
pub struct ChainOutput {
    /// The file name of the code (in the output folder).
    pub code_file: String,
    /// The code as stored on chain.
    pub code: Vec<u8>,
    /// The PVF's name in the workload.
    pub pvf: String,
    /// Its candidates.
    pub candidates: Vec<Candidate>,
    /// What the collator changed and found, for `collation.json`.
    pub report: Value,
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(&path, bytes).map_err(|source| Error::Write { path, source })
}

fn outputs(r: &polkadot_parachain_primitives::primitives::ValidationResult) -> Value {
    json!({
        "head_data": hex0x(&r.head_data.0),
        "hrmp_watermark": r.hrmp_watermark,
        "upward_messages": r.upward_messages.iter().map(|m| hex0x(m)).collect::<Vec<_>>(),
        "horizontal_messages": r.horizontal_messages.iter()
            .map(|m| json!({"recipient": u32::from(m.recipient), "data": hex0x(&m.data)}))
            .collect::<Vec<_>>(),
        "new_validation_code": r.new_validation_code.as_ref().map(|c| hex0x(&c.0)),
        "processed_downward_messages": r.processed_downward_messages,
    })
}

fn workload_entry(c: &Candidate, pvf: &str) -> Value {
    let mut entry = json!({
        "name": c.name,
        "pvf": pvf,
        "kind": "backing",
        "parent_head": hex0x(&c.parent_head),
        "block_data": hex0x(&c.block_data),
        "relay_parent_number": c.relay_parent_number,
        "relay_parent_storage_root": hex0x(c.relay_parent_storage_root.as_bytes()),
    });
    let map = entry.as_object_mut().expect("object");
    let (expect, result) = match &c.expect {
        Expect::Valid(r) => ("valid", Some(r)),
        Expect::Invalid(r) => ("invalid", r.as_ref()),
    };
    map.insert("expect".into(), expect.into());
    if let Some(r) = result {
        for (k, v) in outputs(r).as_object().expect("object") {
            if !v.is_null() {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    entry
}

/// Writes every chain's candidates under `dir`.
pub fn write_all(dir: &Path, chains: &[ChainOutput]) -> Result<(), Error> {
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|source| Error::Write {
            path: p.to_owned(),
            source,
        })
    };
    mkdir(dir)?;
    let mut pvfs = Vec::new();
    let mut candidates = Vec::new();
    let mut reports = Vec::new();
    for chain in chains {
        write(dir.join(&chain.code_file), &chain.code)?;
        pvfs.push(json!({"name": chain.pvf, "code": chain.code_file}));
        reports.push(chain.report.clone());
        for c in &chain.candidates {
            candidates.push(workload_entry(c, &chain.pvf));
            let folder = dir.join("candidates").join(&c.name);
            mkdir(&folder)?;
            write(folder.join("parent-head.bin"), &c.parent_head)?;
            write(folder.join("block-data.bin"), &c.block_data)?;
            let mut expected = json!({
                "verdict": match c.expect { Expect::Valid(_) => "valid", Expect::Invalid(_) => "invalid" },
                "why": c.why,
                "code": format!("../../{}", chain.code_file),
                "relay_parent_number": c.relay_parent_number,
                "relay_parent_storage_root": hex0x(c.relay_parent_storage_root.as_bytes()),
            });
            if let Expect::Valid(r) | Expect::Invalid(Some(r)) = &c.expect {
                expected["receipt"] = outputs(r);
            }
            let text = serde_json::to_string_pretty(&expected).expect("json");
            write(folder.join("expected.json"), text.as_bytes())?;
            let command = format!(
                "pvf-node validate --code {code} --parent-head @candidates/{name}/parent-head.bin \
                 --block-data @candidates/{name}/block-data.bin --relay-parent-number {n} \
                 --relay-parent-storage-root {root} --json\n",
                code = chain.code_file,
                name = c.name,
                n = c.relay_parent_number,
                root = hex0x(c.relay_parent_storage_root.as_bytes()),
            );
            write(folder.join("validate.cmd"), command.as_bytes())?;
        }
    }
    let workload = json!({ "pvfs": pvfs, "candidates": candidates });
    write(
        dir.join("workload.json"),
        serde_json::to_string_pretty(&workload)
            .expect("json")
            .as_bytes(),
    )?;
    write(
        dir.join("collation.json"),
        serde_json::to_string_pretty(&reports)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(())
}
