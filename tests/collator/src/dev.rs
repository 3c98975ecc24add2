//! Development keys in a real genesis state.
//!
//! A real chain's blocks must be sealed by one of its genesis authorities, whose secret keys we
//! do not have. So, as a local test network of that chain would, the collator replaces the
//! Aura authority set with the development key `//Alice` and funds the development accounts it
//! signs transfers from. Everything else in the state — and the runtime code — is untouched.
//! Each change is listed in the output.

use codec::{Decode, Encode};
use sp_core::{crypto::Ss58Codec, sr25519, Pair};
use sp_keyring::Sr25519Keyring;
use sp_runtime::Storage;

/// The pallets whose `Authorities` hold the Aura authority set.
const AURA_PALLETS: [&str; 2] = ["Aura", "AuraExt"];

/// Free balance given to each development account.
pub const DEV_FREE: u128 = 1_000_000_000_000_000_000;

/// The development accounts, in the order transfers go round.
pub const DEV_ACCOUNTS: [Sr25519Keyring; 6] = [
    Sr25519Keyring::Alice,
    Sr25519Keyring::Bob,
    Sr25519Keyring::Charlie,
    Sr25519Keyring::Dave,
    Sr25519Keyring::Eve,
    Sr25519Keyring::Ferdie,
];

/// The key that seals blocks.
pub fn author() -> sr25519::Pair {
    Sr25519Keyring::Alice.pair()
}

fn storage_prefix(pallet: &str, item: &str) -> Vec<u8> {
    [
        sp_crypto_hashing::twox_128(pallet.as_bytes()),
        sp_crypto_hashing::twox_128(item.as_bytes()),
    ]
    .concat()
}

fn account_key(account: &[u8; 32]) -> Vec<u8> {
    [
        storage_prefix("System", "Account"),
        sp_crypto_hashing::blake2_128(account).to_vec(),
        account.to_vec(),
    ]
    .concat()
}

/// Replaces every Aura authority set with `//Alice`. Returns what was replaced, or `None`
/// when the state has no Aura authority set.
pub fn replace_aura_authorities(storage: &mut Storage) -> Option<Vec<String>> {
    let alice = author().public();
    let mut notes = Vec::new();
    for pallet in AURA_PALLETS {
        let key = storage_prefix(pallet, "Authorities");
        let Some(value) = storage.top.get_mut(&key) else {
            continue;
        };
        let old = Vec::<[u8; 32]>::decode(&mut &value[..]).unwrap_or_default();
        *value = vec![alice.0].encode();
        notes.push(format!(
            "{pallet}::Authorities: {} genesis authorities replaced by //Alice ({})",
            old.len(),
            alice.to_ss58check()
        ));
    }
    (!notes.is_empty()).then_some(notes)
}

/// How the chain's `AccountInfo` is laid out, inferred from an account in its genesis state.
#[derive(Clone, Copy, Debug)]
struct AccountLayout {
    /// Whether `AccountInfo` has `sufficients` (since 2021).
    sufficients: bool,
    /// The last `u128` of `AccountData` (`fee_frozen`, later `flags`), kept from the example.
    flags: u128,
}

fn account_layout(storage: &Storage) -> Result<AccountLayout, String> {
    let prefix = storage_prefix("System", "Account");
    let Some(example) = storage
        .top
        .iter()
        .find(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
    else {
        return Ok(AccountLayout {
            sufficients: true,
            flags: 1 << 127,
        });
    };
    let (sufficients, data) = match example.len() {
        80 => (true, &example[16..]),
        76 => (false, &example[12..]),
        n => {
            return Err(format!(
                "System::Account values are {n} bytes, not the AccountInfo of pallet-balances \
                 (76 or 80 bytes); this chain's accounts are not supported"
            ))
        }
    };
    let flags = u128::decode(&mut &data[48..64]).map_err(|e| e.to_string())?;
    // Keep only the "new logic" bit of `ExtraFlags`; a frozen amount would not apply.
    Ok(AccountLayout {
        sufficients,
        flags: flags & (1 << 127),
    })
}

/// Funds the development accounts with [`DEV_FREE`] each (and raises the total issuance by as
/// much). Returns what was changed.
pub fn fund_dev_accounts(storage: &mut Storage) -> Result<Vec<String>, String> {
    let layout = account_layout(storage)?;
    let mut notes = Vec::new();
    for who in DEV_ACCOUNTS {
        let id: [u8; 32] = who.public().0;
        let mut value = Vec::new();
        0u32.encode_to(&mut value); // nonce
        0u32.encode_to(&mut value); // consumers
        1u32.encode_to(&mut value); // providers
        if layout.sufficients {
            0u32.encode_to(&mut value);
        }
        DEV_FREE.encode_to(&mut value); // free
        0u128.encode_to(&mut value); // reserved
        0u128.encode_to(&mut value); // misc_frozen / frozen
        layout.flags.encode_to(&mut value); // fee_frozen / flags
        let previous = storage.top.insert(account_key(&id), value);
        if previous.is_some() {
            return Err(format!(
                "the development account {who:?} already exists in the genesis state; refusing \
                 to overwrite it"
            ));
        }
    }
    let issuance = storage_prefix("Balances", "TotalIssuance");
    if let Some(v) = storage.top.get_mut(&issuance) {
        let total = u128::decode(&mut &v[..]).unwrap_or_default();
        *v = total
            .saturating_add(DEV_FREE * DEV_ACCOUNTS.len() as u128)
            .encode();
    }
    notes.push(format!(
        "System::Account: {} development accounts (//Alice … //Ferdie) funded with {DEV_FREE} each",
        DEV_ACCOUNTS.len()
    ));
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_account(len: usize) -> Storage {
        let mut storage = Storage::default();
        let mut value = vec![0u8; len];
        value[len - 1] = 0x80; // the "new logic" flag of ExtraFlags
        storage.top.insert(account_key(&[9; 32]), value);
        storage
    }

    #[test]
    fn accounts_follow_the_layout_of_the_genesis_state() {
        for (len, sufficients) in [(80, true), (76, false)] {
            let mut storage = with_account(len);
            fund_dev_accounts(&mut storage).expect("funded");
            let alice = storage
                .top
                .get(&account_key(&Sr25519Keyring::Alice.public().0))
                .expect("alice");
            assert_eq!(alice.len(), len, "sufficients: {sufficients}");
            assert_eq!(alice[len - 1], 0x80, "the flags are kept");
        }
    }

    #[test]
    fn an_unknown_account_layout_is_refused() {
        let mut storage = with_account(40);
        let e = fund_dev_accounts(&mut storage).unwrap_err();
        assert!(e.contains("40 bytes"), "{e}");
    }

    #[test]
    fn authorities_are_replaced_only_where_they_exist() {
        let mut storage = Storage::default();
        assert!(replace_aura_authorities(&mut storage).is_none());
        storage.top.insert(
            storage_prefix("Aura", "Authorities"),
            vec![[1u8; 32], [2u8; 32]].encode(),
        );
        let notes = replace_aura_authorities(&mut storage).expect("replaced");
        assert_eq!(notes.len(), 1);
        let now =
            Vec::<[u8; 32]>::decode(&mut &storage.top[&storage_prefix("Aura", "Authorities")][..])
                .unwrap();
        assert_eq!(now, vec![author().public().0]);
    }
}
